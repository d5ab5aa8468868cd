"""``python -m milvus_rag.cli``."""

import sys

from milvus_rag.cli import main

if __name__ == "__main__":  # pkgutil.walk_packages (the demo's docstring corpus) imports it
    sys.exit(main())
