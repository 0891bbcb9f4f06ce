"""Finding-by-finding parity of airlock check with checkov, per airlock rule.

Called by bench/parity.sh, which builds airlock and sets checkov up. Usage:

    parity.py AIRLOCK CORPORA (--checkov CHECKOV | --baselines DIR) [--explained DOC] [--details]

The mapping from checkov check ids to airlock rules comes from airlock itself
(`airlock check --list-rules --format json`, the `checkov` field of each rule), so the doc
page of a rule and this comparison can never disagree.

What is compared is the *resource*: checkov reports a check once per resource, with the
resource's line range; airlock may report a rule several times in one resource (once per open
ingress rule, say). An airlock finding belongs to the checkov resource of the same file whose
line range holds the finding's line (the smallest such range); a finding outside every range
checkov reported is a resource of its own. A checkov finding counts as found by airlock when
any airlock rule that lists its check id reported that resource.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys


def airlock_rules(airlock):
    out = subprocess.run([airlock, "check", "--list-rules", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    rules = json.loads(out)
    by_id = collections.defaultdict(list)
    for rule in rules:
        for check_id in rule["checkov"]:
            by_id[check_id].append(rule["code"])
    mapped = [rule["code"] for rule in rules if rule["checkov"]]
    ids = {rule["code"]: rule["checkov"] for rule in rules}
    return mapped, ids, by_id


def existing_path(corpus, path):
    """checkov's file paths are relative to the scan root, to its parent, or absolute with a
    leading slash, depending on the framework: drop leading components until the path names a
    file of the corpus."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for start in range(len(parts)):
        candidate = "/".join(parts[start:])
        if os.path.isfile(os.path.join(corpus, candidate)):
            return candidate
    return "/".join(parts)


def lines_of(text):
    match = re.match(r"^\[?\s*(\d+)\s*[-,]\s*(\d+)\s*\]?$", text.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def checkov_baseline(path, corpus):
    rows = []
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        for line in handle:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            span = lines_of(row.get("lines", ""))
            if span is None:
                continue
            rows.append((row["check_id"], row["framework"], existing_path(corpus, row["file"]),
                         row["resource"], span))
    return rows


def checkov_live(checkov, corpus):
    proc = subprocess.run([checkov, "-d", ".", "-o", "json", "--quiet", "--compact",
                           "--skip-download"], cwd=corpus, capture_output=True, text=True)
    if not proc.stdout.strip():
        sys.exit(f"parity: checkov printed nothing on {corpus}: {proc.stderr[-2000:]}")
    reports = json.loads(proc.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    rows = []
    for report in reports:
        framework = report.get("check_type", "")
        for failed in report.get("results", {}).get("failed_checks", []):
            span = failed.get("file_line_range") or [0, 0]
            rows.append((failed["check_id"], framework,
                         existing_path(corpus, failed.get("file_path", "")),
                         failed.get("resource", ""), (int(span[0]), int(span[1]))))
    return rows


def airlock_findings(airlock, corpus):
    proc = subprocess.run([airlock, "check", "--format", "json", "--quiet", "."], cwd=corpus,
                          capture_output=True, text=True)
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"parity: airlock failed on {corpus} ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    findings = [f for f in report["findings"] if not f.get("suppressed")]
    for finding in findings:
        finding["file"] = existing_path(corpus, finding["file"])
    return findings, report["errors"]


def compare(corpus_name, checkov_rows, findings, mapped, ids, by_id):
    """Rows of (rule, kind, file, lines, check ids or airlock resource, detail)."""
    # Every resource range checkov reported, per file, to place airlock's findings in.
    ranges = collections.defaultdict(set)
    ranges_by_id = collections.defaultdict(set)
    for check_id, framework, file, _resource, span in checkov_rows:
        if framework == "secrets":
            continue  # one line of a resource, not a resource
        ranges[file].add(span)
        ranges_by_id[(file, check_id)].add(span)

    def entity(rule, finding):
        line = finding["line"]
        for pool in ([s for cid in ids[rule] for s in ranges_by_id.get((finding["file"], cid), ())],
                     ranges.get(finding["file"], ())):
            holding = [s for s in pool if s[0] <= line <= s[1]]
            if holding:
                return finding["file"], min(holding, key=lambda s: s[1] - s[0])
        return finding["file"], (line, finding.get("end_line") or line)

    airlock_by_rule = collections.defaultdict(dict)
    airlock_lines = collections.defaultdict(set)
    for finding in findings:
        if finding["rule"] in ids and ids[finding["rule"]]:
            key = entity(finding["rule"], finding)
            airlock_by_rule[finding["rule"]].setdefault(key, finding)
            for line in range(finding["line"], (finding.get("end_line") or finding["line"]) + 1):
                airlock_lines[(finding["rule"], finding["file"])].add(line)

    def airlock_found(key, check_id):
        for rule in by_id[check_id]:
            if key in airlock_by_rule[rule]:
                return rule
        return None

    counts = {rule: collections.Counter() for rule in mapped}
    rows = []
    checkov_keys = collections.defaultdict(set)
    seen = set()
    secret_lines = collections.defaultdict(set)
    for check_id, framework, file, resource, span in checkov_rows:
        if check_id not in by_id:
            continue
        key = (file, span)
        if (check_id, key) in seen:
            continue  # the same resource through two module calls
        seen.add((check_id, key))
        rule = airlock_found(key, check_id)
        if rule is None and framework == "secrets":
            # checkov's secrets are a line (its range is [line, line + 1]), not a resource:
            # found when an airlock finding of a rule that lists the id covers that line
            for candidate in by_id[check_id]:
                if span[0] in airlock_lines[(candidate, file)]:
                    rule = candidate
                    break
        for candidate in by_id[check_id]:
            checkov_keys[candidate].add(key)
            if framework == "secrets":
                secret_lines[(candidate, file)].add(span[0])
        if rule is not None:
            if (rule, key) not in seen:
                seen.add((rule, key))
                counts[rule]["both"] += 1
        else:
            owner = by_id[check_id][-1]  # the last rule listing it is the most specific
            counts[owner]["only checkov"] += 1
            rows.append((owner, "only checkov", file, span, check_id, resource))
    for rule, found in airlock_by_rule.items():
        for key, finding in found.items():
            if key in checkov_keys[rule]:
                continue
            first, last = finding["line"], finding.get("end_line") or finding["line"]
            if any(first <= line <= last for line in secret_lines[(rule, key[0])]):
                continue  # the secret checkov found on a line of this finding
            counts[rule]["only airlock"] += 1
            rows.append((rule, "only airlock", key[0], key[1], finding["resource"],
                         finding["message"]))
    return counts, rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("airlock")
    parser.add_argument("corpora")
    parser.add_argument("--checkov")
    parser.add_argument("--baselines")
    parser.add_argument("--explained")
    parser.add_argument("--details", action="store_true")
    args = parser.parse_args()

    mapped, ids, by_id = airlock_rules(args.airlock)
    corpora = sorted(name for name in os.listdir(args.corpora)
                     if os.path.isdir(os.path.join(args.corpora, name)))
    # docs/parity.md explains each "only checkov" row in a table row
    # `| corpus/file:line CHECK_ID | verdict | why |`; the verdict decides whether the row is
    # one of checkov's true findings.
    verdicts = {}
    if args.explained and os.path.exists(args.explained):
        with open(args.explained, encoding="utf-8") as handle:
            for line in handle:
                cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
                if len(cells) >= 3 and " CKV" in cells[0]:
                    verdicts[cells[0]] = cells[1]

    total = {rule: collections.Counter() for rule in mapped}
    unexplained = []
    by_verdict = collections.Counter()
    all_rows = []
    errors = 0
    for name in corpora:
        corpus = os.path.join(args.corpora, name)
        if args.checkov:
            checkov_rows = checkov_live(args.checkov, corpus)
        else:
            checkov_rows = checkov_baseline(os.path.join(args.baselines, f"{name}.tsv"), corpus)
        findings, scan_errors = airlock_findings(args.airlock, corpus)
        errors += len(scan_errors)
        counts, rows = compare(name, checkov_rows, findings, mapped, ids, by_id)
        for rule in mapped:
            total[rule].update(counts[rule])
        for row in rows:
            all_rows.append((name, *row))
            if row[1] == "only checkov":
                label = f"{name}/{row[2]}:{row[3][0]} {row[4]}"
                verdict = verdicts.get(label)
                if verdict is None:
                    unexplained.append(label)
                else:
                    by_verdict[verdict] += 1

    print(f"{'rule':<8}{'checkov ids':<44}{'both':>6}{'only checkov':>14}{'only airlock':>14}")
    sums = collections.Counter()
    for rule in mapped:
        c = total[rule]
        sums.update(c)
        if not any(c.values()):
            continue
        print(f"{rule:<8}{', '.join(ids[rule])[:42]:<44}{c['both']:>6}{c['only checkov']:>14}"
              f"{c['only airlock']:>14}")
    print(f"{'total':<52}{sums['both']:>6}{sums['only checkov']:>14}{sums['only airlock']:>14}")
    checkov_total = sums["both"] + sums["only checkov"]
    if checkov_total:
        print(f"airlock found {sums['both']} of checkov's {checkov_total} findings on the mapped "
              f"rules ({100 * sums['both'] / checkov_total:.1f}%); airlock scan errors: {errors}")
    if verdicts:
        wrong = by_verdict["checkov false positive"] + by_verdict["not this rule's mistake"]
        found_elsewhere = sum(n for v, n in by_verdict.items() if v.startswith("found by "))
        true_total = checkov_total - wrong
        found = sums["both"] + found_elsewhere
        if true_total:
            print(f"on checkov's true findings ({wrong} rows that docs/parity.md shows are not "
                  f"mistakes left out): airlock found {found} of {true_total} "
                  f"({100 * found / true_total:.1f}%)")
        for verdict, n in sorted(by_verdict.items()):
            print(f"  only checkov, {verdict}: {n}")
    if args.details:
        print()
        for name, rule, kind, file, span, what, detail in sorted(all_rows):
            print(f"{kind:<13}{rule:<8}{name}/{file}:{span[0]}-{span[1]}  {what}  {detail[:120]}")
    if args.explained:
        if unexplained:
            print(f"\n{len(unexplained)} 'only checkov' rows are not explained in "
                  f"{os.path.relpath(args.explained)}:")
            for label in unexplained:
                print(f"  {label}")
            sys.exit(1)
        print(f"every 'only checkov' row is explained in {os.path.relpath(args.explained)}")


if __name__ == "__main__":
    main()
