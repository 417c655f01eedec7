import sys

from localcloud.runtime.server import main

sys.exit(main())
