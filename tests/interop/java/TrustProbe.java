// One JVM for what a Java program sees of a truststore: the entries of the
// store named by javax.net.ssl.trustStore, read with the JDK's KeyStore (the
// reader keytool uses; printed as keytool -list prints them: "ALIAS, ...,
// trustedCertEntry,"), then a TLS connection through the JVM's default
// SSLContext, which trusts exactly that store ("tls: ok PROTOCOL REPLY" or
// "tls: refused WHY"). Exits 2 when the store cannot be read.
// usage: java -Djavax.net.ssl.trustStore=S -Djavax.net.ssl.trustStorePassword=P
//        TrustProbe HOST PORT
import java.io.*;
import java.security.KeyStore;
import java.util.*;
import javax.net.ssl.*;

public class TrustProbe {
    public static void main(String[] a) throws Exception {
        String path = System.getProperty("javax.net.ssl.trustStore");
        char[] pw = System.getProperty("javax.net.ssl.trustStorePassword", "").toCharArray();
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        try (InputStream in = new FileInputStream(path)) {
            ks.load(in, pw);
        } catch (Exception e) {
            System.out.println("store: " + e);
            System.exit(2);
        }
        List<String> aliases = Collections.list(ks.aliases());
        Collections.sort(aliases);
        for (String al : aliases) {
            System.out.println(al + ", " + ks.getCreationDate(al) + ", "
                + (ks.isCertificateEntry(al) ? "trustedCertEntry," : "PrivateKeyEntry,"));
        }
        SSLSocketFactory f = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) f.createSocket(a[0], Integer.parseInt(a[1]))) {
            s.setSoTimeout(10000);
            s.startHandshake();
            OutputStream out = s.getOutputStream();
            out.write("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".getBytes("US-ASCII"));
            out.flush();
            BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), "US-ASCII"));
            String line = r.readLine();
            System.out.println("tls: ok " + s.getSession().getProtocol() + " " + line);
        } catch (IOException e) {
            System.out.println("tls: refused " + e);
        }
    }
}
