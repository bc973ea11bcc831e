#!/usr/bin/env bash
# Packs what bench/gpu.sh needs on a GPU machine that has neither Maven nor a JDK: the CLI jar, the GPU test
# classpath (loader-cuda's classes and test classes, their dependencies, the JUnit console launcher) in
# .dist/gpu-tests/, and a jlink'ed runtime in .jre/. Copy the checkout with those (e.g. tar) and run bench/gpu.sh.
# ./stload uses .jre/ only where it finds no JDK, so on this (build) machine the JDK keeps running it.
#
# usage: bench/gpu-pack.sh        (needs Maven and a JDK >= 22 with jlink, e.g. Temurin 25 under /usr/lib/jvm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jdk=""
for c in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/* /opt/java/*; do
  if [ -x "$c/bin/jlink" ] && [ "$("$c/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')" -ge 22 ] 2>/dev/null; then
    jdk=$c
  fi
done
[ -n "$jdk" ] || { echo "error: no JDK >= 22 with jlink found (set JAVA_HOME)" >&2; exit 4; }

mvn -B -q -Pgpu-pack -pl loader-cuda,cli -am package -DskipTests -Dmaven.javadoc.skip=true

rm -rf .dist/gpu-tests && mkdir -p .dist/gpu-tests
cp loader-cuda/target/gpu-tests/*.jar .dist/gpu-tests/
cp loader-cuda/target/stload-cuda-*.jar .dist/gpu-tests/
# The reactor's own modules, in case copy-dependencies resolved them from another build's local repository.
cp loader-core/target/stload-core-*[0-9T].jar bench-data/target/stload-bench-data-*[0-9T].jar .dist/gpu-tests/

# The modules the jars use, as jdeps finds them (a fixed list missed jdk.httpserver, and `stload serve` failed),
# plus jdk.zipfs for the test launcher.
modules=$("$jdk/bin/jdeps" --multi-release base --ignore-missing-deps --print-module-deps \
  cli/target/stload.jar .dist/gpu-tests/*.jar)
[ -n "$modules" ] || { echo "error: jdeps found no modules" >&2; exit 4; }
rm -rf .jre
"$jdk/bin/jlink" --add-modules "$modules,jdk.zipfs" \
  --strip-debug --no-header-files --no-man-pages --compress zip-9 --output .jre

# The launcher rebuilds when sources are newer than the jar; a copied checkout has no Maven to do that.
touch cli/target/stload.jar
echo "packed: .jre ($(du -sh .jre | cut -f1)), .dist/gpu-tests ($(ls .dist/gpu-tests | wc -l) jars), cli/target/stload.jar"
echo "on the GPU machine: bench/gpu.sh [--size 12GiB] [--out DIR]"
