import sys

from echoseg.cli import main

sys.exit(main())
