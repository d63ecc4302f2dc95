"""A person's documents (PDF, DOCX, Markdown, TXT, HTML, or folders of them) read into passages.

Each passage names its file, page and nearest heading, so what is made from it can say where it came from. Text,
Markdown and web pages are read whole, up to MOST_TEXT_BYTES each; PDF and Word a page or paragraph at a time.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, Problem

SUFFIXES = (".pdf", ".docx", ".md", ".markdown", ".txt", ".html", ".htm")
SUPPORTED_NAMES = "PDF (.pdf), Word (.docx), Markdown (.md), plain text (.txt) or web pages (.html)"
# Formats people often have that an app they already own can save in one of ours.
CONVERT_FIXES = {
    ".doc": "A .doc from old Word: open it in Word or Pages and save as .docx.",
    ".rtf": "Open it in TextEdit or Word and save as .docx.",
    ".pages": "Open it in Pages and choose File > Export To > Word (.docx) or PDF.",
    ".odt": "Open it in LibreOffice or Word and save as .docx.",
}
HTML_DROPPED = ("script", "style", "nav", "noscript", "template", "head")
HTML_BLOCKS = ("p", "div", "li", "ul", "ol", "pre", "blockquote", "table", "tr", "td", "th", "dt", "dd",
               "section", "article", "header", "footer", "main", "aside", "figure", "figcaption", "hr",
               "h4", "h5", "h6")
HTML_SECTIONS = ("h1", "h2", "h3")
HEADING_MARK = "\x01"  # starts a paragraph that is a heading, in text pulled out of HTML
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)])\s+")
MARKDOWN_HEADING = re.compile(r"#{1,6}\s+(.*?)\s*#*\s*$")
# A text file read whole: 32 MB is about 20,000 passages, days of questions for a local model; more is an export or
# a log, not writing to learn from, and a web page that size takes its parser gigabytes.
MOST_TEXT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Passage:
    file: str  # the path as found
    page: int | None  # 1-based; HTML, Markdown and TXT are one page
    section: str | None  # the nearest heading above the passage
    text: str

    def where(self) -> str:
        """Where the passage is, in plain words: "notes.docx, page 1, “Returns”"."""
        parts = [Path(self.file).name] + ([f"page {self.page}"] if self.page is not None else [])
        return ", ".join(parts + ([f"“{self.section}”"] if self.section else []))


class _Unreadable(Exception):
    """A file Tailor cannot take text from; `fix` says what the person can do about it."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def passages(paths: list[str], size: int = 1500) -> list[Passage]:
    """The passages of `read_passages`, when every file gives some; else a DataError with every problem."""
    result, problems = read_passages(paths, size)
    if problems:
        raise DataError(problems)
    return result


def read_passages(paths: list[str], size: int = 1500) -> tuple[list[Passage], list[Problem]]:
    """Every supported file (a folder: its supported files, recursively, sorted; other files there are skipped)
    split into passages of about `size` characters: paragraphs joined up to size, never across a page, a long
    paragraph cut at sentence ends; whitespace tidied (PDF hyphenated line ends joined, runs of spaces). With them,
    a problem for each file or folder that gave none, so that one bad file among many can be left out."""
    result, problems = [], []
    if not paths:
        problems.append(Problem("error", "no documents were chosen", "documents",
                                fix=f"Choose {SUPPORTED_NAMES} files, or a folder of them."))
    for given in paths:
        if not str(given).strip():  # Path("") is the current folder, which the person did not choose
            problems.append(Problem("error", "has no name", "a document", fix="Choose each document or folder."))
            continue
        files = _documents_in(Path(given)) if Path(given).is_dir() else [str(given)]
        if not files:
            problems.append(Problem("error", "has no documents Tailor can read", str(given),
                                    fix=f"Put {SUPPORTED_NAMES} files in it."))
        for file in files:
            try:
                result += _pack(file, _read(Path(file)), size)
            except _Unreadable as unreadable:
                problems.append(Problem("error", str(unreadable), file, fix=unreadable.fix))
    return result, problems


def left_out_words(problem: Problem) -> str:
    """What a warning says of a file left out: "Left out scan.pdf: it has no text … Make a text copy first, …"."""
    return f"Left out {Path(problem.file).name}: it {problem.message}. {problem.fix}"


def _documents_in(folder: Path) -> list[str]:
    # Word leaves "~$name.docx" lock files beside open documents, and macOS leaves "._name" files on some
    # drives: neither is a document, and hidden folders are not the person's documents either.
    return sorted(str(path) for path in folder.rglob("*")
                  if path.is_file() and path.suffix.lower() in SUFFIXES
                  and not any(part.startswith((".", "~$")) for part in path.relative_to(folder).parts))


def _read(path: Path) -> list[tuple[int, str | None, str]]:
    """The file's paragraphs as (page, section, text), empty ones left out."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise _Unreadable("was not found", "Check the name and the folder.")
    if suffix not in SUFFIXES:
        raise _Unreadable(f"is not a type Tailor reads: it reads {SUPPORTED_NAMES}",
                          CONVERT_FIXES.get(suffix, "Save it as one of those types."))
    reader = {".pdf": _pdf_blocks, ".docx": _docx_blocks, ".html": _html_blocks, ".htm": _html_blocks,
              ".md": _markdown_blocks, ".markdown": _markdown_blocks}.get(suffix, _text_blocks)
    try:
        blocks = [(page, section, text) for page, section, text in reader(path) if text]
    except OSError as error:
        raise _Unreadable(f"could not be read ({error.strerror or error})",
                          "Check that the file opens on this Mac and that Tailor may read that folder.") from None
    if not blocks:
        raise _Unreadable("has no text in it", "Choose a file with writing in it, or leave this one out.")
    return blocks


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _pdf_blocks(path: Path):
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    # pypdf logs how it repaired a file as it reads; the person is told only what matters, by us.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(path)
        locked = reader.is_encrypted and not reader.decrypt("")
        texts = [] if locked else [page.extract_text() or "" for page in reader.pages]
    except DependencyError:
        raise _Unreadable("uses an encryption that needs the 'cryptography' package, which is missing",
                          "Install Tailor again so that it comes with its parts, "
                          "or export an unprotected copy from Preview.") from None
    except Exception:  # pypdf raises many kinds of errors on broken files; any of them means the same to a person
        raise _Unreadable("could not be opened as a PDF: it is damaged, or not really a PDF",
                          "Open it in Preview; if it opens, choose File > Export as PDF and use the copy.") from None
    if locked:
        raise _Unreadable("is protected by a password", "Open it, and save or print a copy without the password "
                          "(in Preview: File > Export as PDF, untick Encrypt).")
    if not any(text.strip() for text in texts):
        raise _Unreadable("has no text Tailor can read: its pages are pictures (a scan)",
                          "Make a text copy first, for example with Live Text or an OCR app, and save it as .txt.")
    for number, text in enumerate(texts, start=1):
        # A word split over two lines ("exam-\nple") is one word; a capital after the hyphen is a real dash.
        text = re.sub(r"(\w)-[ \t]*\n\s*(?=[a-z])", r"\1", text)
        for paragraph in re.split(r"\n\s*\n", text):
            yield number, None, _tidy(paragraph)


def _docx_blocks(path: Path):
    import docx
    from docx.oxml.ns import qn

    try:
        document = docx.Document(str(path))
        paragraphs = list(_docx_paragraphs(document))
    except Exception:  # a broken zip, missing parts, bad XML, or another Office file: all the same to a person
        raise _Unreadable("could not be opened as a Word document (.docx): it is damaged, or not really one",
                          "Open it in Word or Pages and save it again as .docx.") from None
    # Word marks where each page began when it last laid the document out, explicit page breaks included:
    # count those when they exist, else (a file never opened in Word) count the explicit page breaks.
    rendered = any(paragraph._p.xpath(".//w:lastRenderedPageBreak") for paragraph in paragraphs)
    page, section = 1, None
    for paragraph in paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "").lower()
        heading = style.startswith("heading") or style == "title"
        words = []
        for element in paragraph._p.xpath("./w:r/* | ./w:hyperlink/w:r/* | ./w:ins/w:r/* | ./w:smartTag/w:r/*"):
            new_page = (element.tag == qn("w:lastRenderedPageBreak") if rendered else
                        element.tag == qn("w:br") and element.get(qn("w:type")) == "page")
            if new_page:
                if not heading:
                    yield page, section, _tidy("".join(words))
                page, words = page + 1, []
            elif element.tag == qn("w:t"):
                words.append(element.text or "")
            elif element.tag in (qn("w:tab"), qn("w:br"), qn("w:cr")):
                words.append(" ")
        if heading:
            section = _tidy(paragraph.text) or section
        else:
            yield page, section, _tidy("".join(words))


def _docx_paragraphs(container):
    """Paragraphs in reading order, those in table cells included (a merged cell once)."""
    from docx.text.paragraph import Paragraph

    for item in container.iter_inner_content():
        if isinstance(item, Paragraph):
            yield item
            continue
        for row in item.rows:
            seen = set()
            for cell in row.cells:
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    yield from _docx_paragraphs(cell)


def _html_blocks(path: Path):
    from bs4 import BeautifulSoup

    # Bytes, so that the page's own <meta charset> decides how it is read.
    soup = BeautifulSoup(_whole(path), "html.parser")
    for tag in soup.find_all(HTML_DROPPED):
        tag.decompose()
    for tag in soup.find_all(HTML_BLOCKS + HTML_SECTIONS):
        tag.insert_before("\n\n" + (HEADING_MARK if tag.name in HTML_SECTIONS else ""))
        tag.insert_after("\n\n")
    section = None
    for paragraph in re.split(r"\n\s*\n", soup.get_text()):
        if paragraph.lstrip().startswith(HEADING_MARK):
            section = _tidy(paragraph.replace(HEADING_MARK, "")) or section
        else:
            yield 1, section, _tidy(paragraph.replace(HEADING_MARK, ""))


def _markdown_blocks(path: Path):
    section, paragraph, in_code = None, [], False
    for line in _read_text(path).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        heading = None if in_code else MARKDOWN_HEADING.fullmatch(line.strip())
        if heading or not line.strip():
            yield 1, section, _tidy(" ".join(paragraph))
            paragraph = []
            section = heading.group(1) if heading else section
        else:
            paragraph.append(line)
    yield 1, section, _tidy(" ".join(paragraph))


def _text_blocks(path: Path):
    for paragraph in re.split(r"\n\s*\n", _read_text(path)):
        yield 1, None, _tidy(paragraph)


def _whole(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MOST_TEXT_BYTES:
        raise _Unreadable(f"is {size / 2**20:,.0f} MB, more than Tailor reads as one document "
                          f"({MOST_TEXT_BYTES // 2**20} MB, about 20,000 passages)",
                          "Choose the parts you want questions on, saved as smaller files.")
    return path.read_bytes()


def _read_text(path: Path) -> str:
    data = _whole(path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # older Windows and Mac editors saved Western text as cp1252
        return data.decode("cp1252", errors="replace")


def _pack(file: str, blocks, size: int) -> list[Passage]:
    """Paragraphs joined up to `size` characters within one page and section; long ones cut at sentence ends."""
    result, pieces, place = [], [], None
    for page, section, text in blocks:
        for piece in _cut(text, size):
            if pieces and ((page, section) != place or len("\n\n".join(pieces + [piece])) > size):
                result.append(Passage(file, place[0], place[1], "\n\n".join(pieces)))
                pieces = []
            pieces.append(piece)
            place = (page, section)
    if pieces:
        result.append(Passage(file, place[0], place[1], "\n\n".join(pieces)))
    return result


def _cut(text: str, size: int) -> list[str]:
    """A paragraph as pieces of at most `size` characters, cut after sentences (mid-sentence only if one is longer)."""
    if len(text) <= size:
        return [text]
    pieces, current = [], ""
    for sentence in SENTENCE_END.split(text):
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size + 1)
            cut = cut if cut > 0 else size
            pieces += [current] if current else []
            pieces.append(sentence[:cut].strip())
            current, sentence = "", sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    return pieces + ([current] if current else [])
