import sys

from localcloud.runtime.server import main

if __name__ == "__main__":
    sys.exit(main())
