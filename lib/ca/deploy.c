/* see mtls/ca.h: the deployment record (where each identity was written,
 * in which format, with the options that write it again) */
#include <string.h>
#include <time.h>

#include "ca/ca_internal.h"
#include "ca/inventory.h"
#include "base/internal.h"

int
mtls_ca_deploy_record(struct mtls_ca *ca, const struct mtls_deployment *d,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	if (mtls__ca_check_name(d->name, err) != 0) {
		return -1;
	}
	if (d->path == NULL || d->path[0] != '/' || d->format == NULL ||
	    d->format[0] == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "a deployment needs an "
		    "absolute path and a format");
	}
	/* The latest write of a path wins: exporting again with other
	 * options is what the next renewal repeats. */
	s = mtls__db_prepare(mtls__inv_db(ca->inv), "INSERT INTO deployments("
	    "name,path,format,args,recorded_at) VALUES(?1,?2,?3,?4,?5) "
	    "ON CONFLICT(name,path) DO UPDATE SET format=?3, args=?4, "
	    "recorded_at=?5", "recording a deployment", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, d->name);
	mtls__db_bind_text(s, 2, d->path);
	mtls__db_bind_text(s, 3, d->format);
	mtls__db_bind_text(s, 4, d->args != NULL ? d->args : "");
	mtls__db_bind_int64(s, 5, (long long)time(NULL));
	rc = mtls__db_step(s, err);
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

int
mtls_ca_deployments(struct mtls_ca *ca, const char *name, mtls_deploy_cb *cb,
    void *arg, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc, ret = 0;

	/* Directories of key/cert/chain first: the other formats are made
	 * from the files there. */
	s = mtls__db_prepare(mtls__inv_db(ca->inv), "SELECT name,path,format,"
	    "args,recorded_at FROM deployments WHERE name=?1 OR ?1 IS NULL "
	    "ORDER BY name, format<>'files', recorded_at, path",
	    "reading deployments", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, name);
	while ((rc = mtls__db_step(s, err)) == 1) {
		struct mtls_deployment d;

		d.name = mtls__db_col_text(s, 0);
		d.path = mtls__db_col_text(s, 1);
		d.format = mtls__db_col_text(s, 2);
		d.args = mtls__db_col_text(s, 3);
		d.recorded_at = (time_t)mtls__db_col_int64(s, 4);
		ret = cb(&d, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc < 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	return ret;
}
