"""Metaconnect provider sandbox: local fake FCM, Twilio, WhatsApp, webhook and SMTP servers.

They speak each provider's request and response shapes over real sockets, record what they
receive, send status callbacks like the providers do, and answer as scripted for fault tests.
"""

from metaconnect_sandbox.app import create_app
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Fault, FaultScript
from metaconnect_sandbox.recording import CallbackAttempt, ReceivedMessage
from metaconnect_sandbox.server import Sandbox, serving

__all__ = [
    "CallbackAttempt",
    "Fault",
    "FaultScript",
    "ReceivedMessage",
    "Sandbox",
    "SandboxConfig",
    "create_app",
    "serving",
]
