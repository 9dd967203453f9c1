#!/bin/sh
# Builds var-runtime/lib/kumo-ric.jar from src/ (`make java-ric`). The jar is
# committed, so hosts need no JDK; it is reproducible: fixed entry times,
# sorted entries, and a manifest that records the SHA-256 of the sources,
# which java_test.go recomputes to catch a jar older than its sources.
set -eu
cd "$(dirname "$0")"
JAVAC=${JAVAC:-javac}
JAR=${JAR:-jar}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

find src -type f -name '*.java' | LC_ALL=C sort >"$tmp/sources"
# -XDstringConcat=inline: string concatenation without invokedynamic, whose
# bootstrap would cost every cold start tens of milliseconds.
"$JAVAC" --release 17 -encoding UTF-8 -XDstringConcat=inline -g:source,lines \
	-d "$tmp/classes" @"$tmp/sources"

# The same digest java_test.go computes: sha256sum lines of every file under
# src/, sorted by path, hashed again.
sum=$(find src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
printf 'Manifest-Version: 1.0\nCreated-By: kumo\nMain-Class: dev.kumo.ric.Main\nKumo-Source-SHA256: %s\n' "$sum" >"$tmp/MANIFEST.MF"

(cd "$tmp/classes" && find . -type f | sed 's|^\./||' | LC_ALL=C sort >"$tmp/entries")
(cd "$tmp/classes" && "$JAR" --create --file "$tmp/kumo-ric.jar" --manifest "$tmp/MANIFEST.MF" \
	--date=1980-01-01T00:00:02Z @"$tmp/entries")
mkdir -p var-runtime/lib
cp "$tmp/kumo-ric.jar" var-runtime/lib/kumo-ric.jar
chmod 0644 var-runtime/lib/kumo-ric.jar
echo "wrote var-runtime/lib/kumo-ric.jar (sources $sum)"
