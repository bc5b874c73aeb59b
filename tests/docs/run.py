#!/usr/bin/env python3
"""Runs the shell samples of README.md and of the book (docs/src/, in
SUMMARY.md order) against a real server, and fails when a shown output is
not what the command prints. Standard library only.

    python3 tests/docs/run.py [PAGE ...]

PAGE is a path from the repository's root (README.md,
docs/src/guides/jwt.md); without one, every page runs. The server is the
binary in MULTITOKEN_BIN (default: target/debug/multitoken), found on the
PATH of the samples as `multitoken`. The database is SQLite, the default,
unless DOCS_POSTGRES_URL names a PostgreSQL database: then each page gets a
schema of its own there, as DATABASE_URL of its server and its shell.

What a page may hold (docs/src/contributing/tests.md tells it too):

- ```console blocks: each line starting with `$ ` is a command (a line
  ending in `\\`, or followed by one starting with `> `, continues it); the
  lines below it, up to the next `$ `, are its output as shown (standard
  output and error together). A page's blocks run in order in one bash
  session, in a folder of their own, against a fresh server on a random
  port (`127.0.0.1:8000` and `localhost:8000` are rewritten both ways).
- In a shown output, `…` stands for any characters on its line (possibly
  none), and a line that is only `…` for any number of lines. Times
  (2026-12-11T09:30:05.547Z), HTTP and mail dates, keys (mt_ and 49 base62
  characters) and JWTs match any value of their shape. After an HTTP status
  line (`curl -i`), the headers up to the first blank line match in any
  order.
- A command `[VAR=VALUE ...] multitoken [serve]` starts the server (as a
  reader does in another terminal): the runner restarts the page's server
  with these settings and the variables the page exported, in the page's
  folder. A page that starts none gets one with the default settings.
- `<!-- docs-run: not run: REASON -->` right above a block: it is not run,
  and is counted and printed with its reason. Every ```sh, ```bash,
  ```shell or ```console block must be run or marked so.
- `<!-- docs-run: postgres -->` right above a block: it needs PostgreSQL.
  With DOCS_POSTGRES_URL, every `postgres://…` URL in its commands is
  replaced by the page's schema (as ports are by the server's); without,
  it is counted and printed as not run.
- `<!-- docs-run: server VAR=VALUE ... -->` right above a block: before it,
  the page's server is restarted with these settings, as above, for a
  setting the page states in prose.
- A comment `<!-- docs-run: setup` whose next lines are `$ ` commands,
  closed by `-->`: commands a page needs but does not show (a user, a
  second device); each must exit 0, their output is not compared. Counted
  and printed.
"""

import concurrent.futures
import difflib
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOWN_PORT = "8000"
# Guards against a hung command only: CI runs this beside the whole test
# suite on two cores, where building a Django database takes tens of seconds.
COMMAND_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 60.0
# What the runner's shell sets itself: not the page's settings.
SHELL_OWN = {"PATH", "HOME", "LANG", "TERM", "PWD", "OLDPWD", "SHLVL", "_"}
SHELL_LANGUAGES = {"console", "sh", "bash", "shell", "zsh"}

# A shown value of one of these shapes matches any value of the same shape.
SHAPES = [
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"),
    re.compile(
        r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d (?:GMT|[+-]\d{4})"
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"\bmt_[0-9A-Za-z]{49}\b"),
]
ANYTHING = "…"
MARKER = re.compile(r"<!--\s*docs-run:\s*(.*?)\s*(-->)?\s*$")


@dataclass
class Command:
    line: int
    text: str
    expected: list


@dataclass
class Block:
    path: str
    line: int
    commands: list
    setup: bool = False
    server: dict = None  # settings of a fresh server to start first
    postgres: bool = False  # runs only on PostgreSQL, its URLs the page's


@dataclass
class Page:
    path: str
    blocks: list = field(default_factory=list)
    not_run: list = field(default_factory=list)  # (line, reason)
    errors: list = field(default_factory=list)


def pages_in_order():
    pages = ["README.md"]
    summary = os.path.join(ROOT, "docs/src/SUMMARY.md")
    with open(summary, encoding="utf-8") as file:
        for link in re.findall(r"\]\(([^)]+\.md)\)", file.read()):
            pages.append(os.path.join("docs/src", link))
    return pages


def parse_commands(path, lines):
    """`$ ` commands and their shown output; lines are (number, text)."""
    commands = []
    index = 0
    while index < len(lines):
        number, text = lines[index]
        if not text.startswith("$ "):
            if text.strip() and not commands:
                raise ValueError(f"{path}:{number}: output before any `$ ` command")
            if commands:
                commands[-1].expected.append(text)
            index += 1
            continue
        command = [text[2:]]
        while index + 1 < len(lines) and (
            command[-1].endswith("\\") or lines[index + 1][1].startswith("> ")
        ):
            index += 1
            following = lines[index][1]
            command.append(following[2:] if following.startswith("> ") else following)
        commands.append(Command(number, "\n".join(command), []))
        index += 1
    for command in commands:
        while command.expected and not command.expected[-1].strip():
            command.expected.pop()
    return commands


def commands_of(page, path, lines):
    """The block's commands; none, with the page's error, when it is malformed."""
    try:
        return parse_commands(path, lines)
    except ValueError as error:
        page.errors.append(str(error))
        return []


def parse_page(path):
    page = Page(path)
    with open(os.path.join(ROOT, path), encoding="utf-8") as file:
        lines = file.read().split("\n")
    pending = None  # the marker that applies to the next block
    index = 0
    while index < len(lines):
        text = lines[index]
        marker = MARKER.match(text.strip())
        if marker:
            words = marker.group(1)
            if words.startswith("setup"):
                body = []
                start = index + 1
                while not marker.group(2):
                    index += 1
                    if index >= len(lines):
                        page.errors.append(f"{path}:{start}: unclosed docs-run setup comment")
                        return page
                    closing = lines[index].rstrip().endswith("-->")
                    content = lines[index].strip()
                    if closing:
                        content = content[: -len("-->")].rstrip()
                    if content:
                        body.append((index + 1, content))
                    if closing:
                        break
                commands = commands_of(page, path, body)
                page.blocks.append(Block(path, start, commands, setup=True))
            elif words.startswith("not run:"):
                pending = ("not run", words[len("not run:"):].strip(), index + 1)
            elif words == "postgres":
                pending = ("postgres", None, index + 1)
            elif words.startswith("server"):
                settings = {}
                for word in shlex.split(words[len("server"):]):
                    name, _, value = word.partition("=")
                    settings[name] = value
                pending = ("server", settings, index + 1)
            else:
                page.errors.append(f"{path}:{index + 1}: unknown docs-run marker: {words}")
            index += 1
            continue
        # As CommonMark: a backtick fence's info string holds no backtick
        # (```` ```console ```` in prose is inline code, not a fence).
        fence = re.match(r"^(\s*)(`{3,}(?=[^`]*$)|~{3,})\s*([\w-]*)", text)
        if not fence:
            if text.strip() and pending:
                page.errors.append(
                    f"{path}:{pending[2]}: a docs-run marker must be right above a block"
                )
                pending = None
            index += 1
            continue
        indent, ticks, language = fence.groups()
        start = index + 1
        body = []
        index += 1
        while index < len(lines) and not re.fullmatch(
            re.escape(ticks[0]) + "{" + str(len(ticks)) + ",}", lines[index].strip()
        ):
            body.append((index + 1, lines[index][len(indent):] if lines[index].startswith(indent) else lines[index]))
            index += 1
        index += 1
        if language not in SHELL_LANGUAGES:
            if pending:
                page.errors.append(f"{path}:{pending[2]}: a docs-run marker above a ```{language} block")
            pending = None
            continue
        if pending and pending[0] == "not run":
            if pending[1]:
                page.not_run.append((start, pending[1]))
            else:
                page.errors.append(f"{path}:{pending[2]}: `docs-run: not run:` without a reason")
            pending = None
            continue
        if language != "console":
            page.errors.append(
                f"{path}:{start}: a ```{language} block is neither run nor marked: make it "
                "```console with `$ ` commands and their output, or put "
                "`<!-- docs-run: not run: REASON -->` right above it"
            )
            pending = None
            continue
        commands = commands_of(page, path, body)
        if not commands:
            page.errors.append(f"{path}:{start}: a ```console block without a `$ ` command")
        block = Block(path, start, commands)
        if pending and pending[0] == "server":
            block.server = pending[1]
        if pending and pending[0] == "postgres":
            block.postgres = True
        pending = None
        page.blocks.append(block)
    return page


WILDCARD_OR_SHAPE = re.compile(
    "|".join(f"({pattern.pattern})" for pattern in SHAPES) + "|(" + re.escape(ANYTHING) + ")"
)


def line_pattern(expected):
    """The regular expression of a shown line: `…` matches anything, a value
    of a known shape any value of that shape, the rest itself."""
    parts = []
    position = 0
    for found in WILDCARD_OR_SHAPE.finditer(expected):
        parts.append(re.escape(expected[position : found.start()]))
        if found.group(0) == ANYTHING:
            parts.append(".*?")
        else:
            shape = next(p for p in SHAPES if p.fullmatch(found.group(0)))
            parts.append(f"(?:{shape.pattern})")
        position = found.end()
    parts.append(re.escape(expected[position:]))
    return re.compile("".join(parts))


def line_matches(expected, actual):
    return line_pattern(expected.rstrip()).fullmatch(actual.rstrip()) is not None


def lines_match(expected, actual):
    """A line that is only `…` matches any number of lines."""
    memo = {}

    def matches(e, a):
        if (e, a) in memo:
            return memo[(e, a)]
        if e == len(expected):
            result = a == len(actual)
        elif expected[e].strip() == ANYTHING:
            result = any(matches(e + 1, rest) for rest in range(a, len(actual) + 1))
        else:
            result = a < len(actual) and line_matches(expected[e], actual[a]) and matches(e + 1, a + 1)
        memo[(e, a)] = result
        return result

    return matches(0, 0)


def split_headers(lines):
    """(status line and headers, the rest) of an output that starts with an
    HTTP status line (curl -i), else None."""
    if not lines or not lines[0].startswith("HTTP/"):
        return None
    end = lines.index("") if "" in lines else len(lines)
    return lines[:end], lines[end:]


def headers_match(expected, actual):
    """The status line first, then the headers in any order (HTTP gives them
    none, and the server's order varies)."""
    if not line_matches(expected[0], actual[0]):
        return False
    left = list(actual[1:])
    extra_allowed = False
    for header in expected[1:]:
        if header.strip() == ANYTHING:
            extra_allowed = True
            continue
        same = next((other for other in left if line_matches(header, other)), None)
        if same is None:
            return False
        left.remove(same)
    return extra_allowed or not left


def output_matches(expected, actual):
    expected_parts, actual_parts = split_headers(expected), split_headers(actual)
    if expected_parts and actual_parts:
        expected_body = expected_parts[1]
        if not expected_body and expected_parts[0][-1].strip() == ANYTHING:
            expected_body = [ANYTHING]  # a closing `…` leaves the body open too
        return headers_match(expected_parts[0], actual_parts[0]) and lines_match(
            expected_body, actual_parts[1]
        )
    return lines_match(expected, actual)


def shown_diff(expected, actual):
    """A unified diff in which actual lines that match a shown line are
    printed as that shown line, so only the real differences stand out."""
    shown = []
    for index, line in enumerate(actual):
        nearest = sorted(range(len(expected)), key=lambda other: abs(other - index))
        same = next(
            (expected[e] for e in nearest if expected[e].strip() != ANYTHING and line_matches(expected[e], line)),
            None,
        )
        shown.append(same if same is not None else line)
    return "\n".join(
        difflib.unified_diff(expected, shown, "shown", "printed", lineterm="", n=2)
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, binary, folder, port, settings):
        self.folder = folder
        self.port = port
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.folder,
            "RUST_LOG": "info",
            "MULTITOKEN_BIND": f"127.0.0.1:{self.port}",
        }
        env.update(settings)
        env["MULTITOKEN_BIND"] = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.folder, ".server.log")
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [binary, "serve"],
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                # The port is bound before the database is opened and
                # migrated: ready is when /healthz answers, not when the
                # port takes a connection.
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the server did not start:\n{self.log_tail()}")
                time.sleep(0.05)

    def log_tail(self, count=20):
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return "".join(file.readlines()[-count:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Shell:
    """One bash session: variables set by a command are seen by the next."""

    def __init__(self, folder, bin_folder, settings):
        env = {
            "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": folder,
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            # For hidden setups that need the repository's files or its
            # virtualenv (a Django project's database to import).
            "DOCS_REPOSITORY": ROOT,
            **settings,
        }
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.count = 0
        self.status = 0
        self.process.stdin.write(b'__docs_run_status() { return "$1"; }\n')

    def run(self, command):
        """The command's output (stdout and stderr, as a terminal shows them)
        and exit status; None as status when it ran out of time."""
        self.count += 1
        end = f"__docs_run_end_{self.count}_{os.getpid()}__"
        # The group reads /dev/null so that a command reading standard input
        # cannot eat the lines of this script.
        # `$?` at the start is the previous command's status, as in a
        # terminal (`echo $?` is a sample too).
        script = f"{{ __docs_run_status {self.status}\n{command}\n}} </dev/null\nprintf '\\n{end} %d\\n' \"$?\"\n"
        self.process.stdin.write(script.encode())
        self.process.stdin.flush()
        output = b""
        deadline = time.monotonic() + COMMAND_TIMEOUT
        pattern = re.compile(rb"\n" + end.encode() + rb" (\d+)\n")
        while True:
            found = pattern.search(output)
            if found:
                text = output[: found.start()].decode("utf-8", errors="replace")
                self.status = int(found.group(1))
                return text.replace("\r\n", "\n"), self.status
            left = deadline - time.monotonic()
            if left <= 0:
                return output.decode("utf-8", errors="replace"), None
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return output.decode("utf-8", errors="replace"), None
                output += chunk

    def close(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


class PostgresSchema:
    """A schema of its own for one page on the PostgreSQL server of
    DOCS_POSTGRES_URL, named as the HTTP tests name theirs
    (`mt_test_<seconds>_<hex>`), so that their sweep removes it if this run
    is killed before it drops it."""

    def __init__(self, admin_url):
        self.admin_url = admin_url
        self.name = f"mt_test_{int(time.time())}_{secrets.token_hex(8)}"
        self.psql(f"CREATE SCHEMA {self.name}")
        separator = "&" if "?" in admin_url else "?"
        self.url = f"{admin_url}{separator}options=-csearch_path%3D{self.name}"

    def psql(self, statement):
        subprocess.run(
            ["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-qc", statement],
            check=True,
            capture_output=True,
        )

    def drop(self):
        self.psql(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def to_server(text, port):
    for host in ("127.0.0.1", "localhost"):
        text = text.replace(f"{host}:{SHOWN_PORT}", f"{host}:{port}")
    return text


def as_shown(text, port):
    for host in ("127.0.0.1", "localhost"):
        text = text.replace(f"{host}:{port}", f"{host}:{SHOWN_PORT}")
    return text


@dataclass
class Result:
    page: Page
    commands: int = 0
    setup_commands: int = 0
    failures: list = field(default_factory=list)
    server_log: str = ""
    seconds: float = 0.0


def server_start(command):
    """The settings of a command that starts the server in the foreground
    (`[VAR=VALUE ...] multitoken [serve]`), or None for any other command."""
    try:
        words = shlex.split(command.replace("\\\n", " "), comments=True)
    except ValueError:
        return None
    settings = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        settings[name] = value
    if words in (["multitoken"], ["multitoken", "serve"]):
        return settings
    return None


def exported(shell):
    """The variables the page exported in its shell (`export MAIL=...`),
    which a server started from that shell inherits."""
    output, _ = shell.run("env -0")
    settings = {}
    for entry in output.split("\0"):
        name, equals, value = entry.partition("=")
        if equals and name not in SHELL_OWN:
            settings[name.strip()] = value
    return settings


def run_page(page, binary, bin_folder, postgres_url):
    result = Result(page)
    started = time.monotonic()
    result.failures.extend(page.errors)
    if not page.blocks:
        result.seconds = time.monotonic() - started
        return result
    folder = tempfile.mkdtemp(prefix="docs-run-")
    port = free_port()
    # On PostgreSQL, the server and the page's commands (`multitoken user
    # create`) share the page's schema, as they share multitoken.db on SQLite.
    schema = PostgresSchema(postgres_url) if postgres_url else None
    database = {"DATABASE_URL": schema.url} if schema else {}
    shell = Shell(folder, bin_folder, database)
    server = None

    def restart(settings):
        nonlocal server
        if server:
            server.stop()
            server = None
        server = Server(binary, folder, port, {**database, **settings})

    try:
        for block in page.blocks:
            if block.server is not None:
                restart(block.server)
            for command in block.commands:
                where = f"{page.path}:{command.line}"
                text = to_server(command.text, port)
                if block.postgres:
                    text = re.sub(r"postgres://\S+", shlex.quote(schema.url), text)
                settings = server_start(text)
                if settings is not None:
                    if block.setup:
                        result.setup_commands += 1
                    else:
                        result.commands += 1
                    if command.expected:
                        result.failures.append(
                            f"{where}: a command that starts the server shows no output "
                            "(its log goes to its own terminal)"
                        )
                    restart({**exported(shell), **settings})
                    continue
                syntax = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
                if syntax.returncode != 0:
                    result.failures.append(f"{where}: not a bash command: $ {command.text}\n{syntax.stderr}")
                    return result
                if server is None:
                    restart({})
                output, status = shell.run(text)
                printed = as_shown(output, port).rstrip("\n").split("\n")
                if printed == [""]:
                    printed = []
                if block.setup:
                    result.setup_commands += 1
                    if status != 0:
                        result.failures.append(
                            f"{where}: setup command exited with {status}: $ {command.text}\n"
                            + "\n".join(printed)
                        )
                    continue
                result.commands += 1
                if status is None:
                    result.failures.append(
                        f"{where}: no answer in {COMMAND_TIMEOUT:.0f} s: $ {command.text}\n"
                        + "\n".join(printed)
                    )
                    return result
                if not output_matches(command.expected, printed):
                    result.failures.append(
                        f"{where}: $ {command.text}\n(exit status {status})\n"
                        + shown_diff(command.expected, printed)
                    )
    except RuntimeError as error:
        result.failures.append(f"{page.path}: {error}")
    finally:
        if result.failures and server:
            result.server_log = server.log_tail()
        shell.close()
        if server:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if schema:
            schema.drop()
        result.seconds = time.monotonic() - started
    return result


def main(arguments):
    started = time.monotonic()
    binary = os.path.abspath(
        os.environ.get("MULTITOKEN_BIN", os.path.join(ROOT, "target/debug/multitoken"))
    )
    if not os.access(binary, os.X_OK):
        print(f"docs-run: no server binary at {binary} (build it, or set MULTITOKEN_BIN)")
        return 2
    postgres_url = os.environ.get("DOCS_POSTGRES_URL") or None
    bin_folder = tempfile.mkdtemp(prefix="docs-run-bin-")
    os.symlink(binary, os.path.join(bin_folder, "multitoken"))
    paths = arguments or pages_in_order()
    pages = [parse_page(path) for path in paths]
    if not postgres_url:
        for page in pages:
            for block in [block for block in page.blocks if block.postgres]:
                page.blocks.remove(block)
                page.not_run.append((block.line, "needs PostgreSQL (DOCS_POSTGRES_URL)"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda page: run_page(page, binary, bin_folder, postgres_url), pages)
        )
    shutil.rmtree(bin_folder, ignore_errors=True)

    failed = 0
    totals = [0, 0, 0, 0]
    for result in results:
        page = result.page
        blocks = sum(1 for block in page.blocks if not block.setup)
        setups = sum(1 for block in page.blocks if block.setup)
        totals[0] += blocks
        totals[1] += result.commands
        totals[2] += len(page.not_run)
        totals[3] += setups
        if blocks or page.not_run or setups or result.failures:
            state = "FAIL" if result.failures else "ok"
            print(
                f"{state:4} {page.path}: {blocks} block(s), {result.commands} command(s) run, "
                f"{len(page.not_run)} not run, {setups} hidden setup(s) "
                f"({result.setup_commands} command(s)), {result.seconds:.1f} s"
            )
        for line, reason in page.not_run:
            print(f"     not run {page.path}:{line}: {reason}")
        for block in page.blocks:
            if block.setup:
                print(f"     hidden setup {page.path}:{block.line}: {len(block.commands)} command(s)")
    for result in results:
        for failure in result.failures:
            failed += 1
            print(f"\n--- {failure}")
        if result.server_log:
            print(f"\n--- {result.page.path}: the server's last log lines:\n{result.server_log}")
    print(
        f"\ndocs-run: {totals[0]} block(s), {totals[1]} command(s) run, {totals[2]} block(s) not run, "
        f"{totals[3]} hidden setup(s), {failed} failure(s), {time.monotonic() - started:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
