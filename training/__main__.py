import sys

from shopper_segments.training.cli import main

sys.exit(main())
