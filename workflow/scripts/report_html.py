"""``results/REPORT.md`` as one self-contained HTML page: its tables rendered, its figures inlined.

    python workflow/scripts/report_html.py results/REPORT.md results/REPORT.html

Every image the page links (``results/figures/*.png``, the hardware sweep, the NeRF turntables) is embedded
as a data URI, so the page needs no file beside it: Snakemake's own report (``snakemake --report``) embeds
it as is, and it can be archived or mailed as one file. A linked image that is missing is an error that
names it: a page with a silent hole would pass for complete.
"""

from __future__ import annotations

import argparse
import base64
import mimetypes
import sys
from pathlib import Path
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45 }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top }
th { background: #f2f2f2 }
img { max-width: 100%; height: auto }
code { background: #f5f5f5; padding: 0 0.2rem }
"""


class InlineImages(Treeprocessor):
    """Replace each ``<img src="relative/path">`` by the file's bytes as a ``data:`` URI."""

    def __init__(self, md: markdown.Markdown, folder: Path) -> None:
        super().__init__(md)
        self.folder = folder

    def run(self, root: Element) -> None:
        for img in root.iter("img"):
            src = img.get("src", "")
            if src.startswith(("data:", "http://", "https://")):
                continue
            path = self.folder / src
            if not path.is_file():
                raise FileNotFoundError(f"REPORT.md links {src}, which is not at {path}: rebuild the report")
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            img.set("src", f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}")


class InlineImagesExtension(Extension):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # the name Python-Markdown calls
        md.treeprocessors.register(InlineImages(md, self.folder), "inline_images", 0)


def render(md_path: Path) -> str:
    """The HTML page of a markdown file, images inlined from the file's folder."""
    text = md_path.read_text(encoding="utf-8")
    body = markdown.markdown(text, extensions=["tables", "sane_lists", InlineImagesExtension(md_path.parent)])
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")), md_path.stem)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("markdown", type=Path, help="the report, e.g. results/REPORT.md")
    parser.add_argument("html", type=Path, help="the page to write, e.g. results/REPORT.html")
    args = parser.parse_args(argv)
    try:
        page = render(args.markdown)
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    tmp = args.html.with_name(args.html.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(args.html)  # atomic: a reader never sees half a page


if __name__ == "__main__":
    main()
