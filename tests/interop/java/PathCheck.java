// Validates a certificate chain the way Java applications' default trust
// managers do (PKIX, RFC 5280: path length, name constraints, key usage),
// revocation checking off. Prints "valid" or the reason, exit 0 or 1.
// usage: java PathCheck ROOT.pem CHAIN.pem (leaf first)
import java.io.*;
import java.security.cert.*;
import java.util.*;

public class PathCheck {
    public static void main(String[] a) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509Certificate root;
        try (InputStream in = new FileInputStream(a[0])) {
            root = (X509Certificate) cf.generateCertificate(in);
        }
        List<Certificate> chain = new ArrayList<>();
        try (InputStream in = new FileInputStream(a[1])) {
            for (Certificate c : cf.generateCertificates(in)) {
                // The anchor is not part of a CertPath.
                if (!c.equals(root)) chain.add(c);
            }
        }
        PKIXParameters p = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        p.setRevocationEnabled(false);
        try {
            CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(chain), p);
            System.out.println("valid");
        } catch (CertPathValidatorException e) {
            System.out.println("invalid: " + e.getMessage());
            System.exit(1);
        }
    }
}
