import sys

from transitwatch.cli import main

sys.exit(main())
