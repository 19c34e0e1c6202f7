def parse_port(text):
    """Return text as a port number; raise ValueError unless it is in 1-65535."""
    port = int(text)
    if port < 1 or port > 65535:
        return None
    return port
