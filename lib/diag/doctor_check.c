/* see doctor_int.h: the checks `doctor` makes on each file */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/inspect.h"
#include "diag/diag_int.h"
#include "diag/doctor_int.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "base/internal.h"

static const char *const role_names[] = {"any", "client", "server", "node"};

void
mtls__doctor_check_keyfile(struct doctor *d, struct dfile *k)
{
	mode_t mode = k->st.st_mode & 07777;

	if (!(k->kind & DK_IDENTITY) && !k->key_used) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "orphan_key", k->path,
		    "find the certificate issued for this key, or remove the "
		    "key if it is no longer used",
		    "no certificate among the files checked matches the private "
		    "key in %s",
		    k->path);
	}
	if (mode & 0007) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "key_permissions", k->path,
		    "chmod 600 on the key file (and consider it exposed: "
		    "re-key if others could log in)",
		    "the private key %s is readable by every user (mode %04o)",
		    k->path, (unsigned)mode);
	} else if (mode & 0070) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "key_permissions", k->path,
		    "chmod 600 on the key file, unless the group is the "
		    "service's own",
		    "the private key %s is accessible to its group (mode %04o)",
		    k->path, (unsigned)mode);
	} else {
		mtls__report_add(d->r, MTLS_SEV_OK, "key_permissions", k->path, NULL,
		    "the private key %s has mode %04o", k->path,
		    (unsigned)mode);
	}
	if (k->st.st_uid != geteuid()) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "key_owner", k->path,
		    "chown the key to the user the service runs as",
		    "the private key %s is owned by uid %u, not by the current "
		    "user (uid %u)",
		    k->path, (unsigned)k->st.st_uid, (unsigned)geteuid());
	}
}

/* The key for C: in its own file, or the key file whose public key is
 * the certificate's. A key file of the same name that does not match is
 * the classic mix-up. */
static void
pair_key(struct doctor *d, struct dfile *c, X509 *leaf)
{
	struct dfile *same = NULL;
	size_t i;
	int found = 0;

	if (c->key != NULL) {
		c->key_used = 1;
		if (mtls_key_matches_cert(c->key, leaf)) {
			mtls__report_add(d->r, MTLS_SEV_OK, "key_matches", c->path,
			    NULL, "%s holds the certificate and its key",
			    c->path);
			return;
		}
		same = c;
		goto mismatch;
	}
	for (i = 0; i < d->n; i++) {
		struct dfile *k = &d->f[i];

		if (!(k->kind & DK_KEY) || k->key == NULL) {
			continue;
		}
		if (mtls_key_matches_cert(k->key, leaf)) {
			/* Every copy of the key belongs to C (NAME.key beside
			 * NAME.jks holding the same key is no orphan). */
			if (!found) {
				mtls__report_add(d->r, MTLS_SEV_OK, "key_matches",
				    c->path, NULL,
				    "the private key %s belongs to %s",
				    k->path, c->path);
			}
			k->key_used = 1;
			found = 1;
			continue;
		}
		if (strcmp(k->base, c->base) == 0) {
			same = k;
		}
	}
	if (found) {
		return;
	}
	if (same == NULL) {
		mtls__report_add(d->r, MTLS_SEV_INFO, "no_key", c->path, NULL,
		    "no private key for %s among the files checked (fine for "
		    "a peer's certificate)",
		    c->path);
		return;
	}
mismatch:
	same->key_used = 1;
	mtls__report_add(d->r, MTLS_SEV_ERROR, "key_mismatch", c->path,
	    "find the key generated with this certificate, or issue a new "
	    "certificate for this key ('mtls issue' / 'mtls sign')",
	    "the private key %s does not belong to the certificate %s",
	    same->path, c->path);
}

static void
check_role(struct doctor *d, struct dfile *c, X509 *leaf)
{
	static const int need[] = {0, 2, 1, 3};
	int roles = mtls__cert_eku_roles(leaf);
	char eku[256];

	mtls__cert_eku_describe(leaf, eku, sizeof(eku));
	if (d->o->role == MTLS_ROLE_ANY) {
		mtls__report_add(d->r, MTLS_SEV_INFO, "eku", c->path, NULL,
		    "%s may act as %s (EKU %s); give --role to check it",
		    c->path,
		    roles == 3 ? "client and server"
		    : roles == 2 ? "client only"
		    : roles == 1 ? "server only"
				 : "neither client nor server",
		    eku);
		return;
	}
	if ((roles & need[d->o->role]) != need[d->o->role]) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "eku_role", c->path,
		    "issue it with the matching profile: 'mtls issue NAME "
		    "--profile client|server|node'",
		    "%s cannot serve as a %s: its extended key usage is %s "
		    "(a %s needs %s)",
		    c->path, role_names[d->o->role], eku, role_names[d->o->role],
		    d->o->role == MTLS_ROLE_CLIENT   ? "clientAuth"
		    : d->o->role == MTLS_ROLE_SERVER ? "serverAuth"
						     : "serverAuth and clientAuth");
		return;
	}
	mtls__report_add(d->r, MTLS_SEV_OK, "eku_role", c->path, NULL,
	    "%s fits the %s role (EKU %s)", c->path, role_names[d->o->role],
	    eku);
}

static void
check_host(struct doctor *d, struct dfile *c, X509 *leaf)
{
	char *sans;
	int cn_only;

	if (d->o->host == NULL) {
		return;
	}
	sans = mtls__cert_sans(leaf);
	if (!mtls__cert_name_matches(leaf, d->o->host, &cn_only)) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "san_mismatch", c->path,
		    "re-issue it with the host's name: --san dns:NAME (or "
		    "ip:ADDRESS)",
		    "%s is not valid for '%s': its names are %s", c->path,
		    d->o->host, sans[0] ? sans : "(no SANs)");
	} else if (cn_only) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "san_cn_only", c->path,
		    "re-issue it with --san dns:NAME",
		    "'%s' matches only the subject CN of %s, not a SAN: modern "
		    "clients reject that",
		    d->o->host, c->path);
	} else {
		mtls__report_add(d->r, MTLS_SEV_OK, "san_host", c->path, NULL,
		    "%s is valid for '%s'", c->path, d->o->host);
	}
	free(sans);
}

static void
check_order(struct doctor *d, struct dfile *c, STACK_OF(X509) *chain)
{
	int i;

	for (i = 1; i < sk_X509_num(chain); i++) {
		if (X509_check_issued(sk_X509_value(chain, i),
			sk_X509_value(chain, i - 1)) != X509_V_OK) {
			char *s = mtls__cert_subject(sk_X509_value(chain, i));

			ERR_clear_error();
			mtls__report_add(d->r, MTLS_SEV_WARN, "chain_order", c->path,
			    "order the file: the certificate first, then each "
			    "issuer in turn",
			    "in the chain of %s, certificate %d ('%s') does not "
			    "issue the one before it",
			    c->path, i, s);
			OPENSSL_free(s);
			return;
		}
	}
	ERR_clear_error();
}

static X509_STORE_CTX *
verify(struct doctor *d, X509 *leaf, STACK_OF(X509) *untrusted, int *ok)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int i;

	*ok = 0;
	if (st == NULL || ctx == NULL) {
		goto fail;
	}
	for (i = 0; i < sk_X509_num(d->trust); i++) {
		if (X509_STORE_add_cert(st, sk_X509_value(d->trust, i)) != 1) {
			ERR_clear_error(); /* duplicates */
		}
	}
	if (X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
		goto fail;
	}
	X509_STORE_CTX_set_verify_cb(ctx, mtls__verify_ignore_time_cb);
	*ok = X509_verify_cert(ctx) == 1;
	ERR_clear_error();
	X509_STORE_free(st); /* the context holds its own reference */
	return ctx;
fail:
	ERR_clear_error();
	X509_STORE_free(st);
	X509_STORE_CTX_free(ctx);
	return NULL;
}

static int
in_stack(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++) {
		if (X509_cmp(sk_X509_value(sk, i), x) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
report_missing_intermediate(struct doctor *d, struct dfile *c,
    STACK_OF(X509) *chain, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
	int i;

	for (i = 1; i < sk_X509_num(built); i++) {
		X509 *x = sk_X509_value(built, i);
		char *s;

		if (in_stack(chain, x) || in_stack(d->trust, x)) {
			continue;
		}
		s = mtls__cert_subject(x);
		mtls__report_add(d->r, MTLS_SEV_ERROR, "chain_incomplete", c->path,
		    "append the intermediate to the certificate file (or "
		    "NAME.chain.pem), after the certificate",
		    "the chain of %s lacks the intermediate CA '%s' (it is among "
		    "the files checked): peers that trust only the root cannot "
		    "verify it",
		    c->path, s);
		OPENSSL_free(s);
		return;
	}
}

/* Verified, but only because the truststore holds an intermediate we do
 * not send: peers that trust only the root will fail. */
static void
trusted_intermediate(struct doctor *d, struct dfile *c,
    STACK_OF(X509) *chain, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
	int i;

	for (i = 1; i < sk_X509_num(built); i++) {
		X509 *x = sk_X509_value(built, i);
		char *s;

		if (in_stack(chain, x) || mtls__cert_self_signed(x)) {
			continue;
		}
		s = mtls__cert_subject(x);
		mtls__report_add(d->r, MTLS_SEV_WARN, "chain_incomplete", c->path,
		    "append the intermediate to the certificate file (or "
		    "NAME.chain.pem), after the certificate",
		    "the chain of %s lacks the intermediate CA '%s'; it "
		    "verifies here only because %s holds it, peers that trust "
		    "only the root will fail",
		    c->path, s, d->trust_name);
		OPENSSL_free(s);
		return;
	}
}

/* The verified chain under the rule push and test apply to a receiver
 * (and serve to its clients): every certificate but the root. */
static void
check_revocation(struct doctor *d, struct dfile *c, STACK_OF(X509) *verified)
{
	struct mtls_err e = {MTLS_OK, ""};
	char note[1024];
	int depth = 0;

	if (!mtls__revcheck_active(d->rev)) {
		return;
	}
	if (mtls__revcheck_chain_at(d->rev, verified, note, sizeof(note), &depth,
		&e) != 0) {
		/* A leaf that cert_revoked reported already (the inventory's
		 * or the CRL's word, with the fix naming the identity) is
		 * reported once: the walk stops at it, so it has nothing
		 * further to say about this chain. */
		if (depth == 0 && c->leaf_revoked) {
			return;
		}
		mtls__report_add(d->r, MTLS_SEV_ERROR, "chain_revoked", c->path,
		    "replace the revoked certificate (or have its CA's "
		    "responder answer); peers that check revocation refuse it",
		    "%s: %s", c->path, e.msg);
		return;
	}
	mtls__report_add(d->r, strstr(note, "INSECURE") != NULL ? MTLS_SEV_WARN
	    : MTLS_SEV_OK, "chain_revocation", c->path, NULL, "%s: %s", c->path,
	    note);
}

static void
check_chain(struct doctor *d, struct dfile *c, STACK_OF(X509) *chain)
{
	X509 *leaf = sk_X509_value(chain, 0);
	X509_STORE_CTX *ctx;
	STACK_OF(X509) *wide = NULL;
	int ok, code, i;
	char buf[600];

	check_order(d, c, chain);
	if (sk_X509_num(d->trust) == 0) {
		return; /* reported once by mtls__doctor_check_trust */
	}
	ctx = verify(d, leaf, chain, &ok);
	if (ctx == NULL) {
		return;
	}
	if (ok) {
		mtls__report_add(d->r, MTLS_SEV_OK, "chain_verified", c->path, NULL,
		    "%s verifies against the truststore %s", c->path,
		    d->trust_name);
		check_revocation(d, c, X509_STORE_CTX_get0_chain(ctx));
		trusted_intermediate(d, c, chain, ctx);
		X509_STORE_CTX_free(ctx);
		return;
	}
	code = X509_STORE_CTX_get_error(ctx);
	if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    code == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
	    code == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
		/* Would it verify with the CA certificates lying around? Then
		 * the chain is incomplete rather than the CA unknown. */
		wide = sk_X509_dup(chain);
		for (i = 0; wide != NULL && i < sk_X509_num(d->pool); i++) {
			sk_X509_push(wide, sk_X509_value(d->pool, i));
		}
		if (wide != NULL) {
			X509_STORE_CTX *w = verify(d, leaf, wide, &ok);

			if (w != NULL && ok) {
				report_missing_intermediate(d, c, chain, w);
				X509_STORE_CTX_free(w);
				sk_X509_free(wide);
				X509_STORE_CTX_free(ctx);
				return;
			}
			X509_STORE_CTX_free(w);
			sk_X509_free(wide);
		}
		{
			X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
			char *iss = mtls__cert_issuer(top);

			mtls__report_add(d->r, MTLS_SEV_ERROR, "issuer_not_trusted",
			    c->path,
			    "add the issuing CA's certificate to the truststore "
			    "(peers must trust it too), or use a certificate "
			    "from the CA the truststore holds",
			    "the truststore %s does not contain '%s', the CA "
			    "that issued %s",
			    d->trust_name, iss, c->path);
			OPENSSL_free(iss);
		}
		X509_STORE_CTX_free(ctx);
		return;
	}
	mtls_explain_verify_failure(code, X509_STORE_CTX_get_current_cert(ctx),
	    X509_STORE_CTX_get_error_depth(ctx), buf, sizeof(buf));
	mtls__report_add(d->r, MTLS_SEV_ERROR, "chain_invalid", c->path,
	    mtls_explain_verify_fix(code), "%s does not verify against %s: %s",
	    c->path, d->trust_name, buf);
	X509_STORE_CTX_free(ctx);
}

/* The certificate's chain: the rest of its own file, then NAME.chain.pem
 * (or a lone chain.pem, certbot's layout). */
static STACK_OF(X509) *
chain_of(struct doctor *d, struct dfile *c)
{
	STACK_OF(X509) *ch = sk_X509_dup(c->certs);
	size_t i;
	int j;

	for (i = 0; ch != NULL && i < d->n; i++) {
		struct dfile *f = &d->f[i];

		if (!(f->kind & DK_CHAIN) || (strcmp(f->base, c->base) != 0 &&
						 strcmp(f->base, "chain") != 0)) {
			continue;
		}
		for (j = 0; j < sk_X509_num(f->certs); j++) {
			if (!in_stack(ch, sk_X509_value(f->certs, j))) {
				sk_X509_push(ch, sk_X509_value(f->certs, j));
			}
		}
	}
	return ch;
}

/* A certificate can be perfectly formed and still dead: the CA's
 * inventory or its CRL knows when it was revoked or replaced. */
static void
check_standing(struct doctor *d, struct dfile *c, X509 *leaf)
{
	struct mtls_standing st;
	struct mtls_err err;

	mtls_err_clear(&err);
	if (mtls_cert_standing(leaf, d->o->ca_dir, d->o->crl_file, d->trust,
	    &st, &err) != 0) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "crl_unreadable",
		    d->o->crl_file, NULL, "%s", err.msg);
		return;
	}
	if (st.state == NULL) {
		return;
	}
	if (strcmp(st.state, "revoked") == 0) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "cert_revoked", c->path,
		    st.fix, "%s: %s", c->path, st.detail);
		c->leaf_revoked = 1;
	} else if (strcmp(st.state, "superseded") == 0) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "cert_superseded", c->path,
		    st.fix, "%s: %s", c->path, st.detail);
	} else {
		mtls__report_add(d->r, MTLS_SEV_OK, "cert_standing", c->path, NULL,
		    "%s: %s in the CA's inventory as '%s'", c->path, st.state,
		    st.name);
	}
}

void
mtls__doctor_check_identity(struct doctor *d, struct dfile *c)
{
	STACK_OF(X509) *chain = chain_of(d, c);
	X509 *leaf = sk_X509_value(c->certs, 0);
	char what[600], *s = mtls__cert_subject(leaf);
	json_t *ids = json_object_get(mtls__report_json(d->r), "certificates");
	json_t *cj = mtls_cert_to_json(leaf);
	int i;

	if (ids == NULL) {
		ids = json_array();
		json_object_set_new(mtls__report_json(d->r), "certificates", ids);
	}
	json_object_set_new(cj, "file", json_string(c->path));
	json_object_set_new(cj, "chain_length",
	    json_integer(chain ? sk_X509_num(chain) : 1));
	json_array_append_new(ids, cj);
	mtls__report_line(d->r, "%s:", c->path);
	mtls__cert_lines(d->r, leaf, "  ");
	snprintf(what, sizeof(what), "%s (%s)", c->path, s);
	pair_key(d, c, leaf);
	mtls__check_validity(d->r, leaf, c->path, what, "cert", d->warn_days);
	mtls__check_weak(d->r, leaf, c->path, what, "cert");
	for (i = 1; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		char *cs = mtls__cert_subject(x);

		snprintf(what, sizeof(what), "the chain certificate '%s' of %s",
		    cs, c->path);
		mtls__check_validity(d->r, x, c->path, what, "chain_cert",
		    d->warn_days);
		mtls__check_weak(d->r, x, c->path, what, "chain_cert");
		OPENSSL_free(cs);
	}
	check_standing(d, c, leaf);
	check_role(d, c, leaf);
	check_host(d, c, leaf);
	if (chain != NULL) {
		check_chain(d, c, chain);
	}
	sk_X509_free(chain);
	OPENSSL_free(s);
}

void
mtls__doctor_check_trust(struct doctor *d)
{
	int i;
	char what[600];
	json_t *arr = json_array();

	json_object_set_new(mtls__report_json(d->r), "truststore",
	    d->trust_name ? json_string(d->trust_name) : json_null());
	json_object_set_new(mtls__report_json(d->r), "trusted", arr);
	if (sk_X509_num(d->trust) == 0) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "no_truststore",
		    d->o->npaths > 0 ? d->o->paths[0] : NULL,
		    "put the CA certificate beside the node's files as ca.crt, "
		    "or name it with --ca",
		    "no truststore found (ca.crt, *ca*.pem or --ca): peers' "
		    "certificates cannot be verified and chains were not "
		    "checked");
		return;
	}
	mtls__report_line(d->r, "truststore %s:", d->trust_name);
	for (i = 0; i < sk_X509_num(d->trust); i++) {
		X509 *x = sk_X509_value(d->trust, i);
		char *s = mtls__cert_subject(x);

		json_array_append_new(arr, json_string(s));
		mtls__report_line(d->r, "  trusts %s", s);
		snprintf(what, sizeof(what), "the trusted CA '%s'", s);
		mtls__check_validity(d->r, x, d->trust_name, what, "ca_cert",
		    d->warn_days);
		mtls__check_weak(d->r, x, d->trust_name, what, "ca_cert");
		OPENSSL_free(s);
	}
}
