"""python -m codegen WSDL_DIR OUT_DIR"""

from __future__ import annotations

import argparse
from pathlib import Path

from codegen.generate import render


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("wsdl_dir", type=Path, help="folder with the *.wsdl files (and their XSDs)")
    parser.add_argument("out_dir", type=Path, help="folder to write the generated package into")
    args = parser.parse_args()
    render(args.wsdl_dir, args.out_dir)


if __name__ == "__main__":
    main()
