"""One of the suite's last tests: no error a client of the suite's gateways saw names what is the
operator's business: an environment variable, a config key, a file path, an upstream's address, a secret.

Usage: client_errors_reveal_nothing.py LOG_DIR
LOG_DIR holds client-errors-*.txt (one "STATUS BODY" line per error, written by the tests' HTTP client)
and secrets.txt (one secret per line)."""
import pathlib
import re
import sys

from suite_logs import listed_secrets, numbered_lines, report, secrets_in

# Every upstream the suite configures is a loopback mock, so an address of one in an error is a leak;
# environment variables are upper-case words joined by underscores (DEEPINFRA_API_KEY, MODELGATE_ADMIN_KEY).
FORBIDDEN = [
    ("an environment variable", re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")),
    ("a config key", re.compile(r"\b(?:api_key_env|admin_key|metrics_key|upstream_ca_file|ca_file|providers\.[a-z0-9_-]+)\b")),
    ("a file path", re.compile(r"(?:^|[\s'\"(])/(?:tmp|home|root|var|etc|usr|opt|srv|work)/|\.db\b|\.gguf\b")),
    ("an upstream address", re.compile(r"https?://|\b127\.0\.0\.1\b|\blocalhost:\d+")),
]


def main(log_dir: pathlib.Path) -> int:
    secrets = listed_secrets(log_dir)
    files = sorted(log_dir.glob("client-errors-*.txt"))
    if not files:
        print(f"no client saw an error in {log_dir}: the errors are not being collected")
        return 1
    leaks, errors = [], 0
    for where, line in numbered_lines(files):
        errors += 1
        leaks += [f"{where}: names {what}: {line[:300]}" for what, pattern in FORBIDDEN if pattern.search(line)]
        leaks += [f"{where}: {found}" for found in secrets_in(line, secrets)]
    return report(f"checked {errors} client-facing errors from {len(files)} test processes", leaks)


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
