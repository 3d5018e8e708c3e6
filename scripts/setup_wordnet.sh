#!/usr/bin/env bash
# Installs WordNet 3.0 for nltk's METEOR without nltk.download(): Debian ships the database, and this copies it
# where nltk looks. Idempotent; a fast no-op once installed. Target: the first entry of $NLTK_DATA, else
# ~/.cache/got/nltk_data (got/eval/metrics.py adds that folder to nltk's search path itself).
set -euo pipefail

data="${NLTK_DATA:-}"
dest="${data%%:*}"
dest="${dest:-$HOME/.cache/got/nltk_data}/corpora/wordnet"
src=/usr/share/wordnet

[ -s "$dest/lexnames" ] && exit 0  # the folder only appears complete (see the rename below)

if [ ! -s "$src/index.sense" ] || [ ! -s "$src/data.noun" ]; then
  command -v apt-get >/dev/null || { echo "setup_wordnet.sh: needs Debian's wordnet-base and wordnet-sense-index" >&2; exit 1; }
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  # index.sense and cntlist come in their own package; the rest of the database is wordnet-base.
  install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index >/dev/null; }
  install || { $sudo apt-get update -q >/dev/null && install; }
fi

# Build in a temporary folder and rename, so an interrupted run never leaves a half-copied corpus behind.
mkdir -p "$(dirname "$dest")"
tmp="$(mktemp -d "$(dirname "$dest")/.wordnet.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
find "$src" -maxdepth 1 -type f -exec cp {} "$tmp"/ \;  # files only: wordnet-gui may add folders
# Debian leaves out lexnames, which nltk's reader opens first. It is the fixed table of `man 5 lexnames`:
# number, lexicographer file, syntactic category (1 noun, 2 verb, 3 adjective, 4 adverb).
i=0
for name in adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body \
  noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive \
  noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation \
  noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication \
  verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception \
  verb.possession verb.social verb.stative verb.weather adj.ppl; do
  case "$name" in noun.*) cat=1 ;; verb.*) cat=2 ;; adj.*) cat=3 ;; adv.*) cat=4 ;; esac
  printf '%02d\t%s\t%d\n' "$i" "$name" "$cat"
  i=$((i + 1))
done > "$tmp/lexnames"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "WordNet installed for nltk in $dest"
