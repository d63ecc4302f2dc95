"""A Hugging Face hub on 127.0.0.1 for the download and upload tests (HF_ENDPOINT points at it): the model-info API
with file sizes and checksums, and file downloads with byte ranges, as huggingface_hub reads them; whoami, creating a
repository, preupload and commit, as huggingface_hub's upload calls them.

Dataset repositories too (their info and files, in folders), as the general knowledge check downloads them.
It can hold a repository behind a licence (401 with the hub's GatedRepo code), change a file's bytes on the way,
claim sizes no disk has, send slowly, so a download can be stopped half-way, and fall silent (take a request and never
answer it, or stop sending in the middle of a file) until it is closed. It knows the tokens in `accounts`
(each with its user name and whether it may write) and answers others with 401, as the hub does.
"""

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LARGE = 64 * 1024  # files from this size on are LFS files, as weights are on the hub
DATASETS = "datasets/"  # a dataset repository's key in `repos`, as in its address


class Hub:
    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.gated: set[str] = set()
        self.corrupt: set[tuple[str, str]] = set()
        self.claimed_sizes: dict[tuple[str, str], int] = {}
        self.pause_per_chunk = 0.0  # seconds between 64 KB chunks
        self.ignore_range = False  # answer a request for the rest of a file with all of it, as some servers do
        self.commit = COMMIT  # the repository's newest commit: a new one when the model is updated
        self.silent_api = False  # take a request for the model's info or the account's and never answer it
        self.silent_after: int | None = None  # bytes of a file sent before the hub falls silent, the connection open
        self.fell_silent, self.closing = threading.Event(), threading.Event()
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.header_log: list[str | None] = []  # the Authorization header of each request
        self.sent_bytes = 0
        self.accounts: dict[str, tuple[str, str]] = {}  # token: (user name, role "write" or "read")
        self.private: dict[str, bool] = {}  # repositories created through the API: whether private
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo_id: str, folder: Path) -> None:
        """Serve the files of a model folder as the repository `repo_id`."""
        self.repos[repo_id] = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}

    def add_dataset(self, repo_id: str, files: dict[str, bytes]) -> None:
        """Serve `files` (paths in the repository: their bytes) as the dataset repository `repo_id`."""
        self.repos[DATASETS + repo_id] = dict(files)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.closing.set()  # a silent answer ends with the hub
        self.server.shutdown()
        self.server.server_close()

    def fall_silent(self) -> None:
        """Say nothing more on this connection, holding it open, until the hub is closed."""
        self.fell_silent.set()
        self.closing.wait()

    def sibling(self, repo_id: str, name: str) -> dict:
        data = self.repos[repo_id][name]
        size = self.claimed_sizes.get((repo_id, name), len(data))
        blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()  # git's id of the file
        row = {"rfilename": name, "size": size, "blobId": blob}
        if len(data) >= LARGE:
            row["lfs"] = {"size": size, "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        return row

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                if self.path.split("?")[0] == "/api/whoami-v2":
                    return self._whoami()
                self._answer(body=True)

            def do_POST(self):
                hub.requests.append((self.command, self.path, None))
                hub.header_log.append(self.headers.get("Authorization"))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":
                    return self._json({"errors": [], "warnings": []})
                account = self._account()
                if account is None:
                    return self._error(401, "", "Invalid credentials in Authorization header")
                user, role = account
                if path == "/api/repos/create":
                    return self._create(json.loads(body), user, role)
                upload = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit)/[^/]+", path)
                if not upload or upload.group(1) not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo_id, step = upload.groups()
                if role != "write" or repo_id.split("/")[0] != user:
                    return self._error(403, "", "You don't have the rights to write to this repository")
                if step == "preupload":  # every file "regular": its bytes come inline in the commit, no LFS or Xet
                    files = json.loads(body)["files"]
                    return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                 for f in files]})
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        hub.repos[repo_id][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                oid = hashlib.sha1(body).hexdigest()
                self._json({"commitUrl": f"{hub.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                            "pullRequestUrl": None})

            def _account(self) -> tuple[str, str] | None:
                given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                return hub.accounts.get(given)

            def _whoami(self):
                if hub.silent_api:
                    return hub.fall_silent()
                account = self._account()
                if account is None:
                    return self._error(401, "", "Invalid credentials in Authorization header")
                self._json({"type": "user", "name": account[0], "orgs": [],
                            "auth": {"type": "access_token", "accessToken": {"displayName": "t", "role": account[1]}}})

            def _create(self, asked: dict, user: str, role: str):
                repo_id = f"{asked.get('organization') or user}/{asked['name']}"
                if repo_id in hub.repos:
                    return self._json({"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"},
                                      409)
                if role != "write" or repo_id.split("/")[0] != user:
                    return self._error(403, "", "You don't have the rights to create a model under this namespace")
                hub.repos[repo_id] = {}
                hub.private[repo_id] = asked.get("visibility") == "private"
                self._json({"url": f"{hub.url}/{repo_id}"})

            def _json(self, value, status: int = 200):
                payload = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, code: str, message: str):
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, body: bool):
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                hub.header_log.append(self.headers.get("Authorization"))
                path = self.path.split("?")[0]
                info = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/[^/]+)?", path)
                if info and hub.silent_api:
                    return hub.fall_silent()
                if info:
                    return self._info((DATASETS if info.group(1) == "datasets" else "") + info.group(2))
                resolve = re.fullmatch(r"/((?:datasets/)?[^/]+/[^/]+)/resolve/[^/]+/(.+)", path)
                if not resolve or resolve.group(1) not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo_id, name = resolve.groups()
                if repo_id in hub.gated:  # as the hub answers: 401 to no one signed in, 403 to an account not let in
                    return self._error(403 if self.headers.get("Authorization") else 401, "GatedRepo",
                                       f"Access to model {repo_id} is restricted.")
                if name not in hub.repos[repo_id]:
                    return self._error(404, "EntryNotFound", "Entry not found")
                self._file(repo_id, name, body)

            def _info(self, repo_id: str):
                if repo_id not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                siblings = [hub.sibling(repo_id, name) for name in hub.repos[repo_id]]
                self._json({"id": repo_id.removeprefix(DATASETS), "modelId": repo_id, "sha": hub.commit,
                            "private": hub.private.get(repo_id, False),
                            "gated": "manual" if repo_id in hub.gated else False, "siblings": siblings})

            def _file(self, repo_id: str, name: str, body: bool):
                data = hub.repos[repo_id][name]
                if (repo_id, name) in hub.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                row = hub.sibling(repo_id, name)
                start = int(re.fullmatch(r"bytes=(\d+)-\d*", self.headers.get("Range") or "bytes=0-").group(1))
                start = 0 if hub.ignore_range else start
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("ETag", f'"{row["blobId"]}"')
                if "lfs" in row:
                    self.send_header("X-Linked-Etag", f'"{row["lfs"]["sha256"]}"')
                    self.send_header("X-Linked-Size", str(row["size"]))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                for at in range(start, len(data), 65536):
                    if hub.silent_after is not None and at >= hub.silent_after:
                        return hub.fall_silent()
                    try:
                        self.wfile.write(data[at:at + 65536])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    hub.sent_bytes += min(65536, len(data) - at)
                    if hub.pause_per_chunk:
                        time.sleep(hub.pause_per_chunk)

        return Handler
