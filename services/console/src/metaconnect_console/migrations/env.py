from metaconnect_common.migrations import run_env
from metaconnect_console.models import Base

run_env(Base.metadata)
