//! Fidelius side by side: the sandbox's own module (`abdm_server::fidelius`) against the reference
//! fidelius-cli 1.2.0 jar in one warmed JVM (`bench/java/FideliusBench.java`) and `abdm-ecdh`
//! 1.1.0 in Python (`bench/python/fidelius_bench.py`), each on one thread doing the same two
//! operations on the same 20 KB bundle; and the cost of one command-line process of each tool.
//!
//! Encrypt, as a HIP does for every transfer: a fresh key pair and nonce, then ECDH + HKDF +
//! AES-GCM of the bundle for one HIU's raw public key. Decrypt, as the HIU does: the ciphertexts
//! made that way (each from its own sender key), in turn.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abdm_server::fidelius::{self, KeyMaterial};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    /// The plaintext (the 20 KB bundle).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Seconds of both operations before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds each operation is measured.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
}

const POOL: usize = 64;

/// One sealed entry: ciphertext, the sender's public key and nonce.
struct Sealed {
    data: String,
    key: String,
    nonce: String,
}

fn seal(text: &str, hiu: &KeyMaterial) -> Result<Sealed, String> {
    let hip = KeyMaterial::generate();
    let data = fidelius::encrypt(text, &hip.nonce, &hiu.nonce, &hip.private_key, &hiu.public_key)
        .map_err(|e| e.to_string())?;
    Ok(Sealed { data, key: hip.public_key, nonce: hip.nonce })
}

fn open(s: &Sealed, hiu: &KeyMaterial) -> Result<String, String> {
    fidelius::decrypt(&s.data, &hiu.nonce, &s.nonce, &hiu.private_key, &s.key).map_err(|e| e.to_string())
}

/// Runs `op` for `seconds` on this thread: operations, wall and CPU seconds.
fn measure(seconds: f64, mut op: impl FnMut(usize) -> Result<(), String>) -> Result<Value, String> {
    let (t0, c0) = (Instant::now(), self_cpu());
    let end = t0 + Duration::from_secs_f64(seconds);
    let mut n = 0;
    loop {
        op(n)?;
        n += 1;
        if Instant::now() >= end {
            break;
        }
    }
    Ok(json!({"operations": n, "seconds": t0.elapsed().as_secs_f64(), "processCpuSeconds": self_cpu() - c0}))
}

/// This process's CPU seconds (user + system).
fn self_cpu() -> f64 {
    crate::procs::cpu_seconds(std::process::id())
}

/// The sandbox's module on one thread; the same JSON as the Java and Python drivers.
pub fn run(args: Args) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(&args.bundle).map_err(|e| format!("{}: {e}", args.bundle.display()))?;
    let hiu = KeyMaterial::generate();
    let pool = (0..POOL).map(|_| seal(&text, &hiu)).collect::<Result<Vec<_>, _>>()?;
    for s in &pool {
        if open(s, &hiu)? != text {
            return Err("a ciphertext did not decrypt to the bundle".into());
        }
    }
    let warm_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    while Instant::now() < warm_end {
        open(&seal(&text, &hiu)?, &hiu)?;
    }
    let encrypt = measure(args.seconds, |_| seal(&text, &hiu).map(|_| ()))?;
    let decrypt = measure(args.seconds, |i| match open(&pool[i % POOL], &hiu)?.len() == text.len() {
        true => Ok(()),
        false => Err("decrypted to another length".into()),
    })?;
    Ok(json!({"encrypt": encrypt, "decrypt": decrypt, "bytes": text.len()}))
}

/// What the suite needs to run the three side by side.
pub struct Tools {
    /// The abdm-bench binary (this one).
    pub me: PathBuf,
    /// The abdm-sandbox binary.
    pub sandbox: PathBuf,
    /// fidelius-cli's class path (its jar, BouncyCastle, Gson), when Java and the jar are there.
    pub jars: Option<String>,
    /// The directory of the compiled Java driver, when javac was there to compile it.
    pub java_driver: Option<PathBuf>,
    /// The Python interpreter of a virtualenv with abdm-ecdh 1.1.0, and the driver script.
    pub python: Option<(PathBuf, PathBuf)>,
}

/// Operations per CPU second and per wall second of one driver's output, per operation.
fn rates(v: &mut Value) {
    for op in ["encrypt", "decrypt"] {
        let m = &mut v[op];
        let n = m["operations"].as_f64().unwrap_or(0.0);
        let wall = m["seconds"].as_f64().unwrap_or(0.0);
        let cpu = m["processCpuSeconds"].as_f64().unwrap_or(0.0);
        m["perSecond"] = json!(if wall > 0.0 { n / wall } else { 0.0 });
        m["perCpuSecond"] = json!(if cpu > 0.0 { n / cpu } else { 0.0 });
    }
}

fn run_json(mut cmd: Command, what: &str) -> Result<Value, String> {
    let out =
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("{what}: {e}: {text}"))
}

/// The three implementations in turn, each on one thread for `seconds` per operation after
/// `warmup` (the JVM's warm-up is at least 10 s in a full run, for its JIT), and one process of
/// each command-line tool `runs` times.
pub fn side_by_side(
    t: &Tools,
    bundle: &Path,
    (warmup, java_warmup, seconds, runs): (f64, f64, f64, usize),
    say: impl Fn(&str),
) -> Result<Value, String> {
    let secs = |s: f64| format!("{s}");
    say("Fidelius: the sandbox's module");
    let mut cmd = Command::new(&t.me);
    cmd.arg("fidelius").arg("--bundle").arg(bundle).args([
        "--warmup",
        &secs(warmup),
        "--seconds",
        &secs(seconds),
    ]);
    let mut ours = run_json(cmd, "abdm-bench fidelius")?;
    rates(&mut ours);
    let java = match (&t.jars, &t.java_driver) {
        (Some(classpath), Some(build)) => {
            say("Fidelius: fidelius-cli 1.2.0 in one warmed JVM");
            let mut cmd = Command::new("java");
            cmd.arg("-cp").arg(format!("{}:{classpath}", build.display())).arg("FideliusBench").arg(bundle);
            cmd.args([secs(java_warmup), secs(seconds)]);
            let mut v = run_json(cmd, "FideliusBench (java)")?;
            rates(&mut v);
            v
        }
        _ => Value::Null,
    };
    let python = match &t.python {
        None => Value::Null,
        Some((python, script)) => {
            say("Fidelius: abdm-ecdh 1.1.0 (Python)");
            let mut cmd = Command::new(python);
            cmd.arg(script).arg(bundle).args([secs(warmup.min(1.0)), secs(seconds)]);
            let mut v = run_json(cmd, "fidelius_bench.py")?;
            rates(&mut v);
            v
        }
    };
    say("Fidelius: one process per call");
    let processes = processes(t, bundle, runs)?;
    Ok(json!({"ours": ours, "java": java, "python": python, "processes": processes, "seconds": seconds,
        "warmupSeconds": warmup, "javaWarmupSeconds": java_warmup}))
}

/// One `fidelius encrypt` process of each tool, `runs` times in turn: wall time (median) and the
/// child's CPU time (median), each process checked to print the encryptedData.
fn processes(t: &Tools, bundle: &Path, runs: usize) -> Result<Value, String> {
    let text = std::fs::read_to_string(bundle).map_err(|e| e.to_string())?;
    let (hip, hiu) = (KeyMaterial::generate(), KeyMaterial::generate());
    let args = [text.as_str(), &hip.nonce, &hiu.nonce, &hip.private_key, &hiu.public_key];
    let expected = fidelius::encrypt(&text, &hip.nonce, &hiu.nonce, &hip.private_key, &hiu.public_key)
        .map_err(|e| e.to_string())?;
    let ours = || {
        let mut c = Command::new(&t.sandbox);
        c.args(["fidelius", "encrypt"]).args(args);
        c
    };
    let jar = t.jars.as_ref().map(|classpath| {
        move || {
            let mut c = Command::new("java");
            c.args(["-cp", classpath, "com.mgrm.fidelius.FideliusApplication", "e"]).args(args);
            c
        }
    });
    let (mut our_runs, mut jar_runs) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        our_runs.push(one_process(ours(), &expected)?);
        if let Some(jar) = &jar {
            jar_runs.push(one_process(jar(), &expected)?);
        }
    }
    Ok(
        json!({"runs": runs.max(1), "ours": summary(our_runs), "java": if jar.is_some() { summary(jar_runs) } else { Value::Null }}),
    )
}

/// Runs one process to the end: (wall, CPU) seconds; its output must hold `expected`.
fn one_process(mut cmd: Command, expected: &str) -> Result<(f64, f64), String> {
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().map_err(|e| e.to_string())?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu0;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains(expected) {
        return Err(format!("a fidelius process printed no matching encryptedData ({})", out.status));
    }
    Ok((wall, cpu))
}

/// CPU seconds (user + system) of this process's children that have been waited for, from
/// `getrusage`, to the microsecond (/proc counts in clock ticks of 10 ms, too coarse for one
/// short process).
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given, which is zeroed and ours.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn summary(mut runs: Vec<(f64, f64)>) -> Value {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mut wall: Vec<f64> = runs.iter().map(|r| r.0 * 1e3).collect();
    let mut cpu: Vec<f64> = runs.drain(..).map(|r| r.1 * 1e3).collect();
    json!({"wallMsMedian": median(&mut wall), "cpuMsMedian": median(&mut cpu),
        "wallMsMin": wall.first(), "wallMsMax": wall.last()})
}
