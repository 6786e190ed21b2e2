// Mutual-TLS HTTPS server for the interop tests: PKCS#12 (or JKS) keystore
// and truststore, client certificates required. Answers every request with
// the client's subject. Prints READY once listening on 127.0.0.1.
// usage: java TlsServer PORT KEYSTORE KSPASS TRUSTSTORE TSPASS
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.*;

public class TlsServer {
    static KeyStore load(String path, String pass) throws Exception {
        KeyStore ks = KeyStore.getInstance(path.endsWith(".jks") ? "JKS" : "PKCS12");
        try (InputStream in = new FileInputStream(path)) {
            ks.load(in, pass.toCharArray());
        }
        return ks;
    }

    public static void main(String[] a) throws Exception {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(load(a[1], a[2]), a[2].toCharArray());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(load(a[3], a[4]));
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        SSLServerSocket ss = (SSLServerSocket) ctx.getServerSocketFactory()
            .createServerSocket(Integer.parseInt(a[0]), 16, InetAddress.getByName("127.0.0.1"));
        ss.setNeedClientAuth(true);
        System.out.println("READY");
        System.out.flush();
        for (;;) {
            try (SSLSocket s = (SSLSocket) ss.accept()) {
                s.setSoTimeout(10000);
                s.startHandshake();
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                String line;
                while ((line = r.readLine()) != null && !line.isEmpty()) { }
                String body = "client=" + s.getSession().getPeerPrincipal().getName() + "\n";
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length()
                    + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (IOException e) {
                System.out.println("REFUSED " + e);
                System.out.flush();
            }
        }
    }
}
