"""servegate: evidence for the decision to self-host an LLM with vLLM or keep a hosted API."""

from servegate.core.errors import ServegateError

__all__ = ["ServegateError", "__version__"]

__version__ = "0.1.0"
