/* mtls csr NAME --subject DN ... : a key and a CSR for a partner's CA */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls csr NAME --subject DN [--san LIST] [--key-type T] [--out DIR]\n"
    "                [--key-pass SPEC] [--force]\n"
    "\n"
    "Makes NAME.key (0600) and NAME.csr (PKCS#10, PEM) to send to a partner's\n"
    "CA, and prints the CSR's SHA-256 so both sides can compare it.\n"
    "\n"
    "  --subject DN     e.g. \"CN=api-client,O=Example,C=DE\" (default CN=NAME)\n"
    "  --san LIST       dns:HOST,ip:ADDR,uri:URI,email:ADDR (repeatable)\n"
    "  --key-type T     ec-p256 (default), ec-p384, rsa-2048, rsa-3072,\n"
    "                   rsa-4096, ed25519\n"
    "  --out DIR        where to write (default .)\n"
    "  --key-pass SPEC  encrypt NAME.key (pass:, env:, file:, fd:, stdin)\n"
    "  --force          replace existing files\n"
    "\n"
    "example:\n"
    "  mtls csr partner-client --subject \"CN=partner-client,O=Example\" --san dns:client.example\n";

static int
csr_build(EVP_PKEY *key, X509_NAME *subj, GENERAL_NAMES *sans, X509_REQ **out,
    struct mtls_err *err)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	if (req == NULL || exts == NULL || X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, subj) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build the CSR");
		goto out;
	}
	if (sk_GENERAL_NAME_num(sans) > 0) {
		ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
		if (ext == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0 ||
		    X509_REQ_add_extensions(req, exts) != 1) {
			X509_EXTENSION_free(ext);
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot add SANs to the CSR");
			goto out;
		}
	}
	if (X509_REQ_sign(req, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519
		? NULL : EVP_sha256()) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the CSR");
		goto out;
	}
	*out = req;
	req = NULL;
	rc = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return rc;
}

static int
csr_write(const char *dir, const char *name, EVP_PKEY *key, X509_REQ *req,
    const char *key_pass, int force, struct mtls_err *err)
{
	char kp[4096], rp[4096], *key_pem = NULL, *data;
	size_t key_len = 0;
	long n;
	BIO *b = BIO_new(BIO_s_mem());
	struct mtls_fileset *fs = NULL;
	int rc = -1;

	snprintf(kp, sizeof(kp), "%s/%s.key", dir, name);
	snprintf(rp, sizeof(rp), "%s/%s.csr", dir, name);
	if (b == NULL || PEM_write_bio_X509_REQ(b, req) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CSR");
		goto out;
	}
	n = BIO_get_mem_data(b, &data);
	fs = mtls_fileset_new(force, err);
	if (fs == NULL || mtls_key_to_pem(key, key_pass, &key_pem, &key_len, err) != 0 ||
	    mtls_fileset_add(fs, kp, key_pem, key_len, MTLS_MODE_SECRET, err) != 0 ||
	    mtls_fileset_add(fs, rp, data, (size_t)n, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	printf("wrote %s (0600) and %s\n", kp, rp);
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_secret_free(key_pem, key_len);
	BIO_free(b);
	return rc;
}

static void
print_csr_digest(X509_REQ *req)
{
	char fp[128];

	if (mtls_csr_fingerprint(req, fp, sizeof(fp), NULL) != 0) {
		return;
	}
	printf("CSR SHA-256 %s\n", fp);
	printf("(send NAME.csr to the partner's CA; compare this digest with them out of band)\n");
}

int
cmd_csr(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"subject", required_argument, NULL, 'S'},
	    {"san", required_argument, NULL, 's'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"out", required_argument, NULL, 'o'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	enum mtls_keytype kt = MTLS_KEY_EC_P256;
	const char *subject = NULL, *out = ".", *kp_spec = NULL;
	char dn[300], *key_pass = NULL;
	GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
	X509_NAME *subj = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	int c, force = 0, rc = 1;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'S': subject = optarg; break;
		case 's':
			if (mtls_san_add(sans, optarg, &err) != 0) {
				rc = cli_fail(&err);
				goto done;
			}
			break;
		case 'k':
			if (mtls_keytype_parse(optarg, &kt, &err) != 0) {
				rc = cli_fail(&err);
				goto done;
			}
			break;
		case 'o': out = optarg; break;
		case 'K': kp_spec = optarg; break;
		case 'f': force = 1; break;
		case 'h': rc = cli_help(usage); goto done;
		default: rc = cli_bad_option("csr"); goto done;
		}
	}
	if (optind + 1 != argc) {
		rc = cli_usage("csr", "give exactly one NAME");
		goto done;
	}
	if (subject == NULL) {
		snprintf(dn, sizeof(dn), "CN=%s", argv[optind]);
		subject = dn;
	}
	subj = mtls_name_parse(subject, &err);
	if (subj == NULL || (kp_spec != NULL &&
	    (key_pass = mtls_pass_get(kp_spec, NULL, 0, &err)) == NULL) ||
	    mtls_mkdir_p(out, 0755, &err) != 0 ||
	    (key = mtls_key_generate(kt, &err)) == NULL ||
	    csr_build(key, subj, sans, &req, &err) != 0 ||
	    csr_write(out, argv[optind], key, req, key_pass, force, &err) != 0) {
		rc = cli_fail(&err);
		goto done;
	}
	print_csr_digest(req);
	rc = 0;
done:
	mtls_pass_free(key_pass);
	GENERAL_NAMES_free(sans);
	X509_NAME_free(subj);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return rc;
}
