// TLS client that uses only the JVM's default SSLContext, i.e. whatever the
// javax.net.ssl.* system properties name (as `java @javax-net-ssl.args`
// sets them). Prints what the server sends (printable bytes); exits 3 when
// nothing arrives, non-zero on any TLS failure.
// usage: java @ARGS SslProbe HOST PORT http|read
import java.io.*;
import javax.net.ssl.*;

public class SslProbe {
    public static void main(String[] a) throws Exception {
        SSLSocketFactory f = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) f.createSocket(a[0], Integer.parseInt(a[1]))) {
            s.setSoTimeout(10000);
            s.startHandshake();
            InputStream in = s.getInputStream();
            if (a[2].equals("http")) {
                OutputStream out = s.getOutputStream();
                out.write("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".getBytes("US-ASCII"));
                out.flush();
            }
            StringBuilder sb = new StringBuilder();
            byte[] buf = new byte[4096];
            int n;
            while (sb.length() < 8192 && (n = in.read(buf)) > 0) {
                for (int i = 0; i < n; i++) {
                    int c = buf[i] & 0xff;
                    sb.append(c >= 0x20 && c < 0x7f || c == '\n' ? (char) c : '.');
                }
                // OpenWire: the broker speaks first and then waits for us.
                if (a[2].equals("read") && sb.indexOf("ActiveMQ") >= 0) break;
            }
            System.out.println(s.getSession().getProtocol() + " " + sb);
            if (sb.length() == 0) System.exit(3);
        }
    }
}
