"""Documents read into passages that name their file, page and heading; unreadable files said plainly."""

import pytest

from macapp.engine.data.documents import Passage, left_out_words, passages, read_passages
from macapp.engine.errors import DataError


def write_pdf(path, pages, user_password=None):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    if user_password is not None:
        from pypdf import PdfWriter

        writer = PdfWriter(clone_from=str(path))
        writer.encrypt(user_password=user_password, owner_password="owner-only", algorithm="AES-256")
        writer.write(str(path))
    return path


def write_docx(path):
    import docx

    document = docx.Document()
    document.add_paragraph("An opening line before any heading.")
    document.add_heading("Returns", level=1)
    document.add_paragraph("Items may be returned within thirty days.")
    document.add_page_break()
    document.add_paragraph("Refunds reach your card within a week.")
    document.save(str(path))
    return path


def messages(error: DataError) -> str:
    return "\n".join(str(problem) for problem in error.problems)


def test_pdf_pages_are_named_and_their_text_found_on_the_right_page(tmp_path):
    pdf = write_pdf(tmp_path / "guide.pdf", ["The kettle boils water in two minutes.",
                                              "Descale the kettle every month with vine-\ngar and water."])
    found = passages([str(pdf)])
    assert [p.page for p in found] == [1, 2]
    assert "kettle boils" in found[0].text and "Descale" in found[1].text
    assert "vinegar" in found[1].text
    assert found[1].where() == "guide.pdf, page 2"


def test_docx_pages_follow_page_breaks_and_name_the_heading(tmp_path):
    found = passages([str(write_docx(tmp_path / "notes.docx"))])
    assert [(p.page, p.section) for p in found] == [(1, None), (1, "Returns"), (2, "Returns")]
    assert "thirty days" in found[1].text and "Refunds" in found[2].text
    assert found[1].where() == "notes.docx, page 1, “Returns”"


def test_docx_rendered_page_breaks_are_counted_once(tmp_path):
    import docx
    from docx.oxml import OxmlElement

    path = write_docx(tmp_path / "word.docx")
    document = docx.Document(str(path))
    # As Word saves it: a rendered break where the page began, beside the author's explicit one.
    refunds = next(p for p in document.paragraphs if p.text.startswith("Refunds"))
    refunds.runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    document.save(str(path))
    assert [p.page for p in passages([str(path)])] == [1, 1, 2]


def test_html_drops_script_and_nav_and_names_the_heading(tmp_path):
    page = tmp_path / "help.html"
    page.write_text("<html><head><title>Help</title><style>p {color: red}</style></head><body>"
                    "<nav>Home | About | Contact</nav><h1>Setup</h1><p>Plug the  cable in.</p>"
                    "<script>var secret = 1;</script><h2>Cleaning</h2><div><p>Wipe it dry.</p></div></body></html>",
                    encoding="utf-8")
    found = passages([str(page)])
    assert [(p.section, p.text) for p in found] == [("Setup", "Plug the cable in."), ("Cleaning", "Wipe it dry.")]
    text = " ".join(p.text for p in found)
    assert "secret" not in text and "Contact" not in text and "color" not in text
    assert found[0].where() == "help.html, page 1, “Setup”"


def test_markdown_and_text(tmp_path):
    (tmp_path / "readme.md").write_text("Intro text.\n\n# Usage\nRun it\nevery day.\n\n```\n# not a heading\n```\n",
                                        encoding="utf-8")
    (tmp_path / "old.txt").write_bytes("Caf\xe9 opens at nine.\n\nClosed   on Sunday.".encode("cp1252"))
    found = passages([str(tmp_path / "readme.md"), str(tmp_path / "old.txt")])
    assert found[0] == Passage(str(tmp_path / "readme.md"), 1, None, "Intro text.")
    assert found[1].section == "Usage" and found[1].text.startswith("Run it every day.")
    assert found[2] == Passage(str(tmp_path / "old.txt"), 1, None, "Café opens at nine.\n\nClosed on Sunday.")


def test_folder_reads_supported_files_sorted_and_skips_others(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("Bee.", encoding="utf-8")
    (folder / "sub" / "a.md").write_text("Ay.", encoding="utf-8")
    write_docx(folder / "c.docx")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8 not text")
    (folder / "~$c.docx").write_bytes(b"Word's lock file")
    found = passages([str(folder)])
    assert [p.file.split("docs/")[1] for p in found][:3] == ["b.txt", "c.docx", "c.docx"]
    assert found[-1].file.endswith("sub/a.md")


def test_pdf_with_a_password_is_said_plainly_and_an_empty_password_opens(tmp_path):
    locked = write_pdf(tmp_path / "locked.pdf", ["Secret plans."], user_password="secret")
    with pytest.raises(DataError) as error:
        passages([str(locked)])
    said = messages(error.value)
    assert "locked.pdf" in said and "password" in said and "File > Export as PDF" in said
    open_copy = write_pdf(tmp_path / "edit-protected.pdf", ["Anyone may read this."], user_password="")
    assert passages([str(open_copy)])[0].text == "Anyone may read this."


def test_scanned_damaged_and_unsupported_files_are_all_reported_together(tmp_path):
    from fpdf import FPDF
    from PIL import Image

    Image.new("RGB", (40, 40), "white").save(tmp_path / "scan.png")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(tmp_path / "scan.png"), x=10, y=10, w=100)
    pdf.output(str(tmp_path / "scan.pdf"))
    (tmp_path / "broken.pdf").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "broken.docx").write_bytes(b"not a zip at all")
    (tmp_path / "letter.doc").write_bytes(b"\xd0\xcf\x11\xe0 old word")
    (tmp_path / "empty.txt").write_text(" \n\n ", encoding="utf-8")
    names = ["scan.pdf", "broken.pdf", "broken.docx", "letter.doc", "empty.txt", "missing.md"]
    with pytest.raises(DataError) as error:
        passages([str(tmp_path / name) for name in names])
    problems = {problem.file.rsplit("/", 1)[1]: str(problem) for problem in error.value.problems}
    assert sorted(problems) == sorted(names)
    assert "pictures (a scan)" in problems["scan.pdf"] and "Live Text" in problems["scan.pdf"]
    assert "damaged" in problems["broken.pdf"] and "damaged" in problems["broken.docx"]
    assert "save as .docx" in problems["letter.doc"] and ".pdf" in problems["letter.doc"]
    assert "no text" in problems["empty.txt"] and "not found" in problems["missing.md"]
    assert "Traceback" not in messages(error.value)


def test_nothing_chosen_or_an_empty_folder_is_said(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(DataError, match="no documents were chosen"):
        passages([])
    with pytest.raises(DataError) as error:
        passages([str(tmp_path / "photos")])
    assert messages(error.value).startswith(f"{tmp_path / 'photos'}: has no documents Tailor can read")
    assert "Word (.docx)" in messages(error.value)


def test_long_paragraphs_cut_at_sentence_ends_near_size_and_never_across_pages(tmp_path):
    sentence = "This sentence is about forty characters."
    notes = tmp_path / "long.txt"
    notes.write_text(" ".join([sentence] * 30) + "\n\nA short one.", encoding="utf-8")
    found = passages([str(notes)], size=200)
    assert all(120 <= len(p.text) <= 200 for p in found[:-1]) and all(p.text.endswith(".") for p in found)
    assert found[-1].text.endswith("A short one.")
    run_on = tmp_path / "run-on.txt"
    run_on.write_text("word " * 100, encoding="utf-8")
    assert all(40 <= len(p.text) <= 50 for p in passages([str(run_on)], size=50)[:-1])
    pdf = write_pdf(tmp_path / "two.pdf", ["Page one.", "Page two."])
    assert [p.page for p in passages([str(pdf)], size=10_000)] == [1, 2]


def test_one_bad_file_among_good_ones_is_left_out_and_said(tmp_path):
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "kettle.txt").write_text("The kettle boils water in two minutes.", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"not a pdf")
    found, problems = read_passages([str(folder)])
    assert [p.text for p in found] == ["The kettle boils water in two minutes."]
    assert [left_out_words(p) for p in problems] == [
        "Left out broken.pdf: it could not be opened as a PDF: it is damaged, or not really a PDF. Open it in "
        "Preview; if it opens, choose File > Export as PDF and use the copy."]
    with pytest.raises(DataError, match="broken.pdf"):
        passages([str(folder)])  # every file, or a problem


def test_an_empty_name_is_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("Not chosen.", encoding="utf-8")
    found, problems = read_passages(["", "  "])
    assert found == [] and len(problems) == 2 and "has no name" in str(problems[0])
