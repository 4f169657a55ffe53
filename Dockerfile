# omega-memory-plugin: the MCP server and the projector worker (docker-compose.yml runs both).
# Slim, pinned base; the package installed from this checkout with the server extras; runs as a
# user without privileges.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY omega_memory_plugin ./omega_memory_plugin
RUN pip install ".[mongo,qdrant,openai,mcp,metrics]" \
    && useradd --create-home --uid 10001 omega

USER omega
WORKDIR /home/omega
# The MCP server (streamable HTTP, /mcp and /metrics); compose overrides it for the worker.
EXPOSE 8765
ENTRYPOINT ["omega-memory"]
CMD ["serve", "mcp", "--http", "0.0.0.0:8765"]
