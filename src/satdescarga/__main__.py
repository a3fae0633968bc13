"""python -m satdescarga: the command line."""

from satdescarga.cli import main

main()
