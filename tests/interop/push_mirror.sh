#!/bin/bash
# mtls push --dir --mirror against mtls serve: a file deleted on the
# sending side is deleted on the receivers by the next --mirror run; only
# what this sender pushed is ever deleted (a file another sender put there
# stays); without --mirror nothing is deleted; an empty DIR is refused and
# leaves the receivers as they are; another set of receivers keeps its own
# list.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki_openssl.sh"
cd "$T" || exit 1

pki_ca "$T" ca
pki_issue "$T" ca publish server
pki_issue "$T" ca author client
pki_issue "$T" ca other client
check "test PKI was made" test -s author.crt -a -s other.crt
ID=(--cert author.crt --key author.key --ca ca.crt)

P=$(free_port)
bg "$MTLS" serve --listen "127.0.0.1:$P" --cert publish.crt --key publish.key \
	--ca ca.crt --root "$T/recv" --insecure-no-map 2>>serve.log
wait_port "$P" || fail "the receiver did not start"
U=https://127.0.0.1:$P
push() { "$MTLS" push "$U" "${ID[@]}" --state st --wait --deadline 60 "$@"; }

mkdir -p site/docs
echo one >site/a.txt
echo two >site/docs/b.txt
echo three >site/docs/c.txt
check "first --mirror push" push --dir site --prefix /content --mirror
check "all three arrived" test -f recv/content/a.txt -a -f recv/content/docs/b.txt \
	-a -f recv/content/docs/c.txt
check "another sender's file on the receiver" "$MTLS" push "$U" --cert other.crt \
	--key other.key --ca ca.crt --state st-other --wait --deadline 60 \
	/content/docs/theirs.txt=site/a.txt
check "the state keeps the list private (0600)" sh -c \
	'test "$(stat -c %a st/mirror/*.list)" = 600'

rm site/docs/b.txt
check "push without --mirror" push --dir site --prefix /content
check "... deletes nothing" test -f recv/content/docs/b.txt
check_output "push --mirror after a deletion says so" "1 file\(s\) gone from site" \
	push --dir site --prefix /content --mirror
check "b.txt is gone on the receiver" test ! -e recv/content/docs/b.txt
check "a.txt and c.txt are still there" test -f recv/content/a.txt -a -f recv/content/docs/c.txt
check "the other sender's file stays" test -f recv/content/docs/theirs.txt
check "a second --mirror run sends no deletion and succeeds" push --dir site \
	--prefix /content --mirror
cp last.out second.out
check_fails "... and does not print one" grep -q "gone from" second.out

# Two-way sync: the file may be gone on the receiver already (another
# sender's mirror deleted it); deleting it again is not a failure.
rm recv/content/docs/c.txt site/docs/c.txt
check "a deletion of a file the receiver no longer has succeeds" push \
	--dir site --prefix /content --mirror

rm -r site/a.txt site/docs
check_status "an empty DIR is refused (usage, exit 2)" 2 push --dir site \
	--prefix /content --mirror
cp last.out empty.out
check_output "... saying what it would have deleted" "holds no files.*the 1 file" cat empty.out
check "... and the receiver keeps what it has" test -f recv/content/a.txt
check_status "--mirror without --dir is a usage error" 2 push --mirror /content/x=site
finish
