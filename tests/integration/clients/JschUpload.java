// Uploads one file with JSch (Debian's libjsch-java: the original JSch 0.1.5x) on its
// default algorithms: put to REMOTE (or to TEMP, then rename to REMOTE).
// Usage: java -cp jsch.jar JschUpload.java HOST PORT USER PASSWORD LOCAL REMOTE [TEMP]
import com.jcraft.jsch.ChannelSftp;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.Session;

public class JschUpload {
    public static void main(String[] args) throws Exception {
        Session session = new JSch().getSession(args[2], args[0], Integer.parseInt(args[1]));
        session.setPassword(args[3]);
        session.setConfig("StrictHostKeyChecking", "no");  // a fresh gateway's test host key
        session.connect(30000);
        try {
            ChannelSftp sftp = (ChannelSftp) session.openChannel("sftp");
            sftp.connect(30000);
            String target = args.length > 6 ? args[6] : args[5];
            sftp.put(args[4], target);
            if (args.length > 6) {
                sftp.rename(args[6], args[5]);
            }
            sftp.disconnect();
        } finally {
            session.disconnect();
        }
    }
}
