#!/usr/bin/env python3
"""Checks a PGXN META.json against the rules of the PGXN Meta Spec 1.0.0
(https://pgxn.org/spec/): the required keys and the form of each value.

    check_meta.py META.json [--dist-root DIR]

With --dist-root, every path the metadata names (provides.*.file, docfile) must exist
under DIR. Prints one line per problem and exits 1 when there is any; exits 0 silently.
"""
import json
import os
import re
import sys

# SemVer 1.0.0 as the spec uses it: MAJOR.MINOR.PATCH, an optional -prerelease.
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+)?$")
# A version range: ">= 1.2.0, < 2.0.0", a bare version, or 0 for any version.
RANGE_PART = re.compile(r"^(==|!=|>=|<=|>|<)?\s*(\S+)$")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
    "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
    "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source", "restricted",
    "unrestricted", "unknown",
}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}
RELEASE_STATUS = {"stable", "testing", "unstable"}


def is_term(value):
    """A Term: a string of two or more characters, no slash, backslash or control character."""
    return isinstance(value, str) and len(value) >= 2 and not re.search(r"[/\\\x00-\x1f\x7f]", value)


def is_path(value):
    """A Path: relative, Unix separators, no parent directory."""
    return (isinstance(value, str) and value != "" and not value.startswith("/") and "\\" not in value
            and ".." not in value.split("/"))


def is_version_range(value):
    if value == 0 or value == "0":
        return True
    if not isinstance(value, str):
        return False
    for part in value.split(","):
        match = RANGE_PART.match(part.strip())
        if not match or not (SEMVER.match(match.group(2)) or match.group(2) == "0"):
            return False
    return True


def check(meta, root=None):
    problems = []
    say = problems.append
    if not isinstance(meta, dict):
        return ["the metadata is not a JSON object"]
    for key in ("name", "abstract", "maintainer", "license", "provides", "version", "meta-spec"):
        if key not in meta:
            say("missing required key %r" % key)
    if "name" in meta and not is_term(meta["name"]):
        say("name must be a Term (2+ characters, no slash, backslash or control character)")
    if "version" in meta and not (isinstance(meta["version"], str) and SEMVER.match(meta["version"])):
        say("version %r is not a SemVer" % meta.get("version"))
    if "abstract" in meta and not (isinstance(meta["abstract"], str) and meta["abstract"]):
        say("abstract must be a non-empty string")
    maintainer = meta.get("maintainer")
    if "maintainer" in meta and not (
            (isinstance(maintainer, str) and maintainer)
            or (isinstance(maintainer, list) and maintainer and all(isinstance(m, str) and m for m in maintainer))):
        say("maintainer must be a string or a non-empty list of strings")
    license_ = meta.get("license")
    if "license" in meta:
        if isinstance(license_, str):
            if license_ not in LICENSES:
                say("license %r is not one of the spec's license strings" % license_)
        elif isinstance(license_, list):
            if not license_ or any(item not in LICENSES for item in license_):
                say("license list must name only the spec's license strings")
        elif isinstance(license_, dict):
            if not license_ or not all(isinstance(url, str) and re.match(r"^https?://", url) for url in license_.values()):
                say("a license object must map names to URLs")
        else:
            say("license must be a string, a list or an object")
    spec = meta.get("meta-spec")
    if "meta-spec" in meta and not (isinstance(spec, dict) and spec.get("version") == "1.0.0"):
        say("meta-spec must be an object with version 1.0.0")
    provides = meta.get("provides")
    if "provides" in meta:
        if not isinstance(provides, dict) or not provides:
            say("provides must be a non-empty object")
        else:
            for extension, info in provides.items():
                if not is_term(extension):
                    say("provides: %r is not a Term" % extension)
                if not isinstance(info, dict):
                    say("provides.%s must be an object" % extension)
                    continue
                for key in ("file", "version"):
                    if key not in info:
                        say("provides.%s: missing required key %r" % (extension, key))
                if "version" in info and not (isinstance(info["version"], str) and SEMVER.match(info["version"])):
                    say("provides.%s.version %r is not a SemVer" % (extension, info.get("version")))
                for key in ("file", "docfile"):
                    if key in info:
                        if not is_path(info[key]):
                            say("provides.%s.%s %r is not a relative path" % (extension, key, info[key]))
                        elif root is not None and not os.path.isfile(os.path.join(root, info[key])):
                            say("provides.%s.%s: %s is not in the distribution" % (extension, key, info[key]))
    prereqs = meta.get("prereqs", {})
    if not isinstance(prereqs, dict):
        say("prereqs must be an object")
    else:
        for phase, relations in prereqs.items():
            if phase not in PHASES or not isinstance(relations, dict):
                say("prereqs: %r is not a phase (configure, build, test, runtime, develop)" % phase)
                continue
            for relation, requirements in relations.items():
                if relation not in RELATIONS or not isinstance(requirements, dict):
                    say("prereqs.%s: %r is not a relationship" % (phase, relation))
                    continue
                for name, version in requirements.items():
                    if not is_version_range(version):
                        say("prereqs.%s.%s.%s: %r is not a version range" % (phase, relation, name, version))
    if "tags" in meta and not (isinstance(meta["tags"], list)
                               and all(isinstance(t, str) and 0 < len(t) <= 255 for t in meta["tags"])):
        say("tags must be a list of strings of 1 to 255 characters")
    if "release_status" in meta and meta["release_status"] not in RELEASE_STATUS:
        say("release_status must be stable, testing or unstable")
    if "generated_by" in meta and not isinstance(meta["generated_by"], str):
        say("generated_by must be a string")
    return problems


def main(argv):
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    root = argv[argv.index("--dist-root") + 1] if "--dist-root" in argv else None
    try:
        with open(argv[0]) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        print("%s: %s" % (argv[0], e))
        return 1
    problems = check(meta, root)
    for problem in problems:
        print("%s: %s" % (argv[0], problem))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
