import sys

from transitwatch.cli.main import main

sys.exit(main())
