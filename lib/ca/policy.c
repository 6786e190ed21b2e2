/* see mtls/ca.h: named signing policies, stored in the inventory */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca_internal.h"
#include "ca/inventory.h"
#include "base/internal.h"

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

int
mtls_policy_save(struct mtls_ca *ca, const struct mtls_sign_policy *pol,
    int force, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	struct mtls_err e;
	int rc;

	if (mtls__ca_check_name(pol->name, err) != 0) {
		return -1;
	}
	if (pol->profile == MTLS_PROFILE_OCSP) {
		return mtls_err_set(err, MTLS_E_POLICY, "a signing policy for "
		    "partners cannot use the ocsp profile");
	}
	if (mtls__policies_check(pol->cert_policies, err) != 0) {
		return -1;
	}
#define POLICY_INSERT                                                        \
	"INSERT INTO policies(name,profile,subject,subject_allow,sans,"          \
	"san_allow,days,created_at,cert_policies) "                              \
	"VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
	s = mtls__db_prepare(mtls__inv_db(ca->inv), force ? POLICY_INSERT
	    " ON CONFLICT(name) DO UPDATE SET profile=?2, subject=?3, "
	    "subject_allow=?4, sans=?5, san_allow=?6, days=?7, created_at=?8, "
	    "cert_policies=?9"
	    : POLICY_INSERT, "saving a policy", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, pol->name);
	mtls__db_bind_text(s, 2, mtls_profile_name(pol->profile));
	mtls__db_bind_text(s, 3, or_empty(pol->subject));
	mtls__db_bind_text(s, 4, or_empty(pol->subject_allow));
	mtls__db_bind_text(s, 5, or_empty(pol->sans));
	mtls__db_bind_text(s, 6, or_empty(pol->san_allow));
	mtls__db_bind_int64(s, 7, pol->days);
	mtls__db_bind_int64(s, 8, (long long)time(NULL));
	mtls__db_bind_text(s, 9, or_empty(pol->cert_policies));
	mtls_err_clear(&e);
	rc = mtls__db_step(s, &e);
	mtls__db_finalize(s);
	if (rc != 0 && e.code == MTLS_E_EXISTS) {
		return mtls_err_set(err, MTLS_E_EXISTS, "a signing policy named "
		    "'%s' exists (give --force to replace it)", pol->name);
	}
	if (rc != 0 && err != NULL) {
		*err = e;
	}
	return rc == 0 ? 0 : -1;
}

static const char *
or_null(struct mtls_db_stmt *s, int i)
{
	const char *t = mtls__db_col_text(s, i);

	return t != NULL && *t != '\0' ? t : NULL;
}

int
mtls_policy_get(struct mtls_ca *ca, const char *name, mtls_policy_cb *cb,
    void *arg, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc, ret = 0, rows = 0;

	s = mtls__db_prepare(mtls__inv_db(ca->inv), "SELECT name,profile,"
	    "subject,subject_allow,sans,san_allow,days,cert_policies FROM policies "
	    "WHERE name=?1 OR ?1 IS NULL ORDER BY name", "reading policies", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, name);
	while ((rc = mtls__db_step(s, err)) == 1) {
		struct mtls_sign_policy p;

		memset(&p, 0, sizeof(p));
		p.name = or_null(s, 0);
		if (mtls_profile_parse(mtls__db_col_text(s, 1),
			&p.profile, err) != 0) {
			ret = -1;
			break;
		}
		p.subject = or_null(s, 2);
		p.subject_allow = or_null(s, 3);
		p.sans = or_null(s, 4);
		p.san_allow = or_null(s, 5);
		p.days = (int)mtls__db_col_int64(s, 6);
		p.cert_policies = or_null(s, 7);
		rows++;
		ret = cb(&p, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc < 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	if (ret == 0 && rows == 0 && name != NULL) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no signing policy named "
		    "'%s' (see 'mtls policy list')", name);
	}
	return ret;
}

int
mtls_policy_remove(struct mtls_ca *ca, const char *name, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	long long n;
	int rc;

	s = mtls__db_prepare(mtls__inv_db(ca->inv), "DELETE FROM policies WHERE "
	    "name=?1", "removing a policy", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, name);
	rc = mtls__db_step(s, err);
	n = mtls__db_changes(s);
	mtls__db_finalize(s);
	if (rc != 0) {
		return -1;
	}
	if (n == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no signing policy named "
		    "'%s' (see 'mtls policy list')", name);
	}
	return 0;
}
