// Mutual-TLS client for the interop tests: loads a keystore and a
// truststore the way Java applications do (javax.net.ssl.* semantics: one
// password for the key manager), connects, sends a line, prints the reply.
// usage: java TlsClient HOST PORT KEYSTORE|- KSPASS TRUSTSTORE TSPASS
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.*;

public class TlsClient {
    static KeyStore load(String path, String pass) throws Exception {
        // "JKS" also loads PKCS#12 (keystore.type.compat), like keytool.
        KeyStore ks = KeyStore.getInstance(path.endsWith(".p12") ? "PKCS12" : "JKS");
        try (InputStream in = new FileInputStream(path)) {
            ks.load(in, pass.toCharArray());
        }
        return ks;
    }

    public static void main(String[] a) throws Exception {
        KeyManager[] kms = null;
        if (!a[2].equals("-")) {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(load(a[2], a[3]), a[3].toCharArray());
            kms = kmf.getKeyManagers();
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(load(a[4], a[5]));
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kms, tmf.getTrustManagers(), null);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket()) {
            s.connect(new InetSocketAddress(a[0], Integer.parseInt(a[1])), 10000);
            s.setSoTimeout(10000);
            s.startHandshake();
            OutputStream out = s.getOutputStream();
            out.write("hello mtls\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            String line = r.readLine();
            System.out.println("TLS OK " + s.getSession().getProtocol() + " peer="
                + s.getSession().getPeerPrincipal().getName() + " reply=" + line);
            if (line == null) System.exit(3);
        }
    }
}
