# Sourced by scripts/dev and scripts/test: make sure uv is there, then install the
# locked workspace. Nothing else needs installing by hand on a machine with Python 3.11
# (and, for the tests, a JDK 17 + Maven to fetch and run Apache Kafka).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
uv sync --frozen --all-packages --quiet
