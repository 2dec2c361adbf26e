import sys

from explorec.cli import main

sys.exit(main())
