// The reference Fidelius in one warmed JVM: fidelius-cli 1.2.0's own classes (BouncyCastle 1.71),
// called in-process, the way a Java HIP or HIU links the jar. Compiled by bench/run with javac
// against the jar; run by `abdm-bench suite` with the jar's class path.
//
//   java -cp BUILD:JARS FideliusBench BUNDLE WARMUP_SECONDS SECONDS
//
// One thread. Encrypt, as a HIP does for every transfer: a fresh key pair and nonce
// (KeyPairGenController), then ECDH + HKDF + AES-GCM of BUNDLE for one HIU's raw public key.
// Decrypt, as the HIU does: each of the ciphertexts made above (every one from its own sender
// key), in turn. Prints one JSON line: operations, seconds (wall), the thread's and the whole
// process's CPU seconds (the process's include the JIT compiler and the garbage collector).

import com.mgrm.fidelius.decryption.DecryptionController;
import com.mgrm.fidelius.decryption.DecryptionRequest;
import com.mgrm.fidelius.encryption.EncryptionController;
import com.mgrm.fidelius.encryption.EncryptionRequest;
import com.mgrm.fidelius.keypairgen.KeyMaterial;
import com.mgrm.fidelius.keypairgen.KeyPairGenController;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

public class FideliusBench {
    static final KeyPairGenController KEYS = new KeyPairGenController();
    static final EncryptionController ENC = new EncryptionController();
    static final DecryptionController DEC = new DecryptionController();
    static final int POOL = 64;

    /** One sealed entry: the ciphertext and the sender's public key and nonce. */
    record Sealed(String data, String senderKey, String senderNonce) {}

    static Sealed encrypt(String text, KeyMaterial hiu) throws Exception {
        KeyMaterial hip = KEYS.generate();
        String data = ENC.encrypt(new EncryptionRequest(text, hip.getNonce(), hiu.getNonce(),
                hip.getECPrivateKey(), hiu.getECPublicKey())).getEncryptedData();
        return new Sealed(data, hip.getECPublicKey(), hip.getNonce());
    }

    static String decrypt(Sealed s, KeyMaterial hiu) throws Exception {
        return DEC.decrypt(new DecryptionRequest(s.data(), hiu.getNonce(), s.senderNonce(),
                hiu.getECPrivateKey(), s.senderKey())).getDecryptedData();
    }

    static long processCpuNanos() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getProcessCpuTime();
        }
        return -1;
    }

    /** Runs `op` for `seconds`: {operations, seconds, threadCpuSeconds, processCpuSeconds}. */
    static String measure(double seconds, Op op) throws Exception {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long t0 = System.nanoTime(), c0 = threads.getCurrentThreadCpuTime(), p0 = processCpuNanos();
        long end = t0 + (long) (seconds * 1e9);
        long n = 0;
        do {
            op.run(n);
            n++;
        } while (System.nanoTime() < end);
        long t1 = System.nanoTime(), c1 = threads.getCurrentThreadCpuTime(), p1 = processCpuNanos();
        return String.format("{\"operations\": %d, \"seconds\": %.4f, \"threadCpuSeconds\": %.4f, \"processCpuSeconds\": %.4f}",
                n, (t1 - t0) / 1e9, (c1 - c0) / 1e9, (p1 - p0) / 1e9);
    }

    interface Op {
        void run(long i) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String text = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        double warmup = Double.parseDouble(args[1]);
        double seconds = Double.parseDouble(args[2]);
        KeyMaterial hiu = KEYS.generate();
        List<Sealed> pool = new ArrayList<>();
        for (int i = 0; i < POOL; i++) {
            pool.add(encrypt(text, hiu));
        }
        for (Sealed s : pool) {
            if (!decrypt(s, hiu).equals(text)) {
                throw new IllegalStateException("a ciphertext did not decrypt to the bundle");
            }
        }
        // Warm-up: both operations, until the JIT has compiled the hot paths.
        long warmEnd = System.nanoTime() + (long) (warmup * 1e9);
        while (System.nanoTime() < warmEnd) {
            encrypt(text, hiu);
            decrypt(pool.get(0), hiu);
        }
        String enc = measure(seconds, i -> encrypt(text, hiu));
        String dec = measure(seconds, i -> {
            if (decrypt(pool.get((int) (i % POOL)), hiu).length() != text.length()) {
                throw new IllegalStateException("decrypted to another length");
            }
        });
        System.out.println("{\"encrypt\": " + enc + ", \"decrypt\": " + dec + ", \"bytes\": "
                + text.getBytes(StandardCharsets.UTF_8).length + ", \"java\": \""
                + System.getProperty("java.vm.name") + " " + System.getProperty("java.version") + "\"}");
    }
}
