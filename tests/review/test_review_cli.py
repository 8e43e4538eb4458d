"""``graffiti review add-user / add-device`` as a user runs them, and the torch-free import rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.review.helpers import REPO


def graffiti(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A new session has no controlling terminal, so a password prompt reads stdin instead of /dev/tty.
    return subprocess.run([sys.executable, "-m", "detector", "review", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=60, start_new_session=True)


def _sm(data: Path):  # type: ignore[no-untyped-def]
    from detector.review.db import make_engine, make_sessionmaker
    from detector.review.settings import default_db_url

    return make_sessionmaker(make_engine(default_db_url(data)))


def test_add_device_prints_a_working_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    from detector.review import store

    data = tmp_path / "data"
    r = graffiti("add-device", "north", "south", "--device", "pi-7", "--data", str(data))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("grd_") and "north, south" in r.stderr
    dev = store.device_for_token(_sm(data), token)
    assert dev is not None and dev.name == "pi-7" and dev.cameras == {"north", "south"}
    assert token.encode() not in (data / "review.sqlite3").read_bytes()
    again = graffiti("add-device", "west", "--device", "pi-7", "--data", str(data))
    assert again.returncode == 0 and "token is unchanged" in again.stdout and "grd_" not in again.stdout
    assert store.device_for_token(_sm(data), token).cameras == {"north", "south", "west"}  # type: ignore[union-attr]


def test_add_user_reads_the_password_from_stdin_and_it_verifies(tmp_path: Path) -> None:
    from detector.review import store

    data = tmp_path / "data"
    r = graffiti("add-user", "dana", "--password-stdin", "--data", str(data), stdin="s3cret-enough\n")
    assert r.returncode == 0, r.stderr
    assert store.check_user(_sm(data), "dana", "s3cret-enough")
    assert not store.check_user(_sm(data), "dana", "s3cret-enoug")
    assert b"s3cret-enough" not in (data / "review.sqlite3").read_bytes()


def test_add_user_prompts_twice_and_asks_again_when_the_entries_differ(tmp_path: Path) -> None:
    from detector.review import store

    data = tmp_path / "data"
    r = graffiti("add-user", "erin", "--data", str(data), stdin="first-try-pw\nfirst-try-pX\nsecond-pw-ok\nsecond-pw-ok\n")
    assert r.returncode == 0, r.stderr
    assert "do not match" in r.stdout + r.stderr
    assert store.check_user(_sm(data), "erin", "second-pw-ok")
    assert not store.check_user(_sm(data), "erin", "first-try-pw")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["add-user", "dana", "--password-stdin"], "short\n", "password: expected at least 8 characters"),
    (["add-user", "da na", "--password-stdin"], "long enough pw\n", "user 'da na'"),
    (["add-device", "north/../x", "--device", "pi"], None, "camera 'north/../x'"),
    (["add-device", "--device", "pi"], None, "add-device: expected at least one CAMERA name"),
    (["serve", "--db", "not-a-url"], None, "--db: expected a database URL"),
    (["add-device", "north", "--device", "pi", "--db", "mysql://u:pw@h/x"], None,
     "--db mysql://u:***@h/x: the database driver 'MySQLdb' is not installed"),
    (["add-device", "north", "--device", "pi", "--db", "nosuchdb://h/x"], None, "--db nosuchdb://h/x: not a usable"),
    (["add-device", "north", "--device", "pi", "--db", "sqlite:////nonexistent-dir/x.db"], None,
     "cannot open the database (unable to open database file)"),
    (["serve", "--port", "70000"], None, "--port: expected a TCP port in [1, 65535], found 70000"),
    (["serve", "--host", "no-such-host.invalid"], None, "--host 'no-such-host.invalid': not an address"),
    (["serve", "--online-after-s", "-5"], None, "--online-after-s: expected a number of seconds > 0"),
    (["serve", "--online-after-s", "nan"], None, "--online-after-s: expected a number of seconds > 0, found nan"),
    (["serve", "--max-file-mb", "nan"], None, "--max-file-mb: expected a number > 0, found nan"),
    (["serve", "--max-request-mb", "0"], None, "--max-request-mb: expected a number > 0, found 0"),
], ids=["short-password", "bad-user-name", "bad-camera-name", "no-cameras", "bad-db-url", "db-driver-missing",
        "db-unknown-kind", "db-file-unopenable", "port-out-of-range", "unknown-host",
        "negative-online-after", "nan-online-after", "nan-max-file", "zero-max-request"])
def test_user_mistakes_print_one_line_and_exit_2(tmp_path: Path, args: list[str], stdin: str | None, message: str) -> None:
    r = graffiti(*args, "--data", str(tmp_path / "data"), stdin=stdin)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_add_user_with_no_password_input_is_an_error_not_aborted(tmp_path: Path) -> None:
    r = graffiti("add-user", "frank", "--data", str(tmp_path / "data"), stdin="")
    assert r.returncode == 2, r.stderr
    assert "error: password: none given (input ended)" in r.stderr and "Aborted" not in r.stderr


def test_serve_on_a_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = graffiti("serve", "--port", str(port), "--data", str(tmp_path / "data"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: --host/--port 127.0.0.1:{port}: cannot listen there (Address already in use)"


def test_data_folder_that_is_a_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    for args, message in ((["serve"], "cannot create the data folder"),
                          (["add-device", "north", "--device", "pi"], "cannot create the data folder"),
                          (["export", "--out", str(tmp_path / "x")], "no review database review.sqlite3 here")):
        r = graffiti(*args, "--data", str(tmp_path / "data"))
        assert r.returncode == 2 and r.stderr.startswith("error: --data "), (args, r.stderr)
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize(("make_key", "message"), [
    (lambda p: p.write_text("zz not hex\n"), "cannot use session.key (not the hex key this program writes)"),
    (lambda p: p.mkdir(), "cannot use session.key (Is a directory)"),
    (lambda p: p.write_text("abcd\n"), "session.key is too short to sign sessions"),
], ids=["not-hex", "a-folder", "too-short"])
def test_damaged_session_key_is_one_line_error(tmp_path: Path, make_key, message: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").mkdir()
    make_key(tmp_path / "data" / "session.key")
    r = graffiti("add-device", "north", "--device", "pi", "--data", str(tmp_path / "data"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: --data ") and message in r.stderr


def test_empty_session_key_is_replaced_by_a_new_key(tmp_path: Path) -> None:
    from detector.review.settings import load_settings

    (tmp_path / "session.key").write_text("")
    settings = load_settings(tmp_path)
    assert len(settings.session_secret) == 32
    assert (tmp_path / "session.key").read_text().strip() == settings.session_secret.hex()


def test_export_from_a_folder_without_a_database_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    r = graffiti("export", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--data" in r.stderr and "no review database" in r.stderr, r.stderr
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize(("out", "message"), [
    ("afile", "--out {root}/afile: exists and is not a folder"),
    ("afile/sub", "--out {root}/afile/sub: cannot create the export folder"),
], ids=["out-is-a-file", "out-under-a-file"])
def test_export_into_an_unusable_out_is_one_line_error(tmp_path: Path, out: str, message: str) -> None:
    graffiti("add-device", "north", "--device", "pi", "--data", str(tmp_path / "data"))  # creates the database
    (tmp_path / "afile").write_text("not a folder")
    r = graffiti("export", "--data", str(tmp_path / "data"), "--out", str(tmp_path / out))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: " + message.format(root=tmp_path)), r.stderr


def test_export_of_an_empty_database_writes_an_empty_manifest_and_says_so(tmp_path: Path) -> None:
    graffiti("add-device", "north", "--device", "pi", "--data", str(tmp_path / "data"))
    r = graffiti("export", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "x"))
    assert r.returncode == 0, r.stderr
    assert "nothing exported: no decided alerts yet" in r.stderr
    assert (tmp_path / "x" / "manifest.csv").read_text().strip() == "path,label,group,split,source,kind,regions"


def test_review_code_never_imports_torch() -> None:
    code = ("import sys; import detector.review.app, detector.review.routes.api, detector.review.routes.pages, "
            "detector.review.dataset_export, detector.review.cli, detector.cli; "
            "from detector.review.settings import load_settings; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
