//! Templates in scenario values: `{{expr}}` inside strings. An expression is a name with an
//! optional path (`txn`, `fixture.people.0.aadhaar`, `captured.list.1`) or a function call:
//! `uuid()`, `now()` (ISO-8601 UTC), `now_plus('600')` (that many seconds later), `otp_time()` (`yyyy-MM-dd HH:mm:ss`, ABHA's `timeStamp`),
//! `encrypt_oaep(key, text)` (ABHA v3), `encrypt_pkcs1(key, text)` (PHR v1), and for a HIP's
//! data push `fidelius_keygen()` (a fresh key pair and nonce, as fidelius-cli's `gkm` prints them),
//! `fidelius_encrypt(text, senderNonce, requesterNonce, senderPrivateKey, requesterPublicKey)`
//! (fidelius-cli's `e`) and `md5_hex(text)`; for a HIU opening a push,
//! `fidelius_decrypt(content, requesterNonce, senderNonce, requesterPrivateKey, senderPublicKey)`
//! (fidelius-cli's `d`) and `parse_json(text)` (the JSON value a text holds). Arguments are expressions or 'quoted text'; an
//! object or array argument is used as its JSON text. A string that is exactly one `{{expr}}` takes the value's JSON
//! type (a number stays a number); otherwise values are interpolated as text.

use std::collections::BTreeMap;

use serde_json::Value;

/// Names that are always defined: the fixtures, the target's credentials, the runner's inbox.
pub const BUILTIN_ROOTS: [&str; 3] = ["fixture", "target", "inbox"];
const FUNCTIONS: [&str; 11] = [
    "uuid",
    "now",
    "now_plus",
    "otp_time",
    "encrypt_oaep",
    "encrypt_pkcs1",
    "fidelius_keygen",
    "fidelius_encrypt",
    "md5_hex",
    "fidelius_decrypt",
    "parse_json",
];

pub type Vars = BTreeMap<String, Value>;

/// The root names a value's templates refer to (for validation and step dependencies).
pub fn references(value: &Value) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    walk_strings(value, &mut |s| {
        for expr in expressions(s)? {
            collect(&parse(expr)?, &mut out);
        }
        Ok(())
    })?;
    Ok(out)
}

fn walk_strings(value: &Value, f: &mut impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().try_for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values().try_for_each(|v| walk_strings(v, f)),
        _ => Ok(()),
    }
}

fn collect(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Name(path) => {
            if let Some(root) = path.first() {
                if !out.contains(root) {
                    out.push(root.clone());
                }
            }
        }
        Expr::Call(_, args) => args.iter().for_each(|a| collect(a, out)),
        Expr::Text(_) => {}
    }
}

/// The `{{...}}` expressions of a string.
fn expressions(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed '{{{{' in {s:?}"))?;
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Name(Vec<String>),
    Call(String, Vec<Expr>),
    Text(String),
}

fn parse(src: &str) -> Result<Expr, String> {
    let src = src.trim();
    if src.is_empty() {
        return Err("empty '{{}}'".into());
    }
    if let Some(text) = src.strip_prefix('\'') {
        let text = text.strip_suffix('\'').ok_or_else(|| format!("unclosed quote in {src:?}"))?;
        return Ok(Expr::Text(text.to_string()));
    }
    if let Some(open) = src.find('(') {
        let name = src[..open].trim();
        let inner = src[open + 1..].strip_suffix(')').ok_or_else(|| format!("missing ')' in {src:?}"))?;
        if !FUNCTIONS.contains(&name) {
            return Err(format!("unknown function {name:?} (known: {})", FUNCTIONS.join(", ")));
        }
        let args = split_args(inner).into_iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let arity = match name {
            "encrypt_oaep" | "encrypt_pkcs1" => 2,
            "fidelius_encrypt" | "fidelius_decrypt" => 5,
            "md5_hex" | "parse_json" | "now_plus" => 1,
            _ => 0,
        };
        if args.len() != arity {
            return Err(format!("{name}() takes {arity} arguments, got {}", args.len()));
        }
        return Ok(Expr::Call(name.to_string(), args));
    }
    let path: Vec<String> = src.split('.').map(|p| p.trim().to_string()).collect();
    if path.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')) {
        return Err(format!("{src:?} is not a name (letters, digits, '_', '-', separated by '.')"));
    }
    Ok(Expr::Name(path))
}

fn split_args(s: &str) -> Vec<&str> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Renders every template in `value` with `vars`.
pub fn render(value: &Value, vars: &Vars) -> Result<Value, String> {
    match value {
        Value::String(s) => render_str(s, vars),
        Value::Array(items) => {
            items.iter().map(|v| render(v, vars)).collect::<Result<_, _>>().map(Value::Array)
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(v, vars)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Renders a string: a lone `{{expr}}` keeps the value's JSON type.
pub fn render_str(s: &str, vars: &Vars) -> Result<Value, String> {
    let exprs = expressions(s)?;
    if exprs.is_empty() {
        return Ok(Value::String(s.to_string()));
    }
    let trimmed = s.trim();
    if exprs.len() == 1 && trimmed.starts_with("{{") && trimmed.ends_with("}}") {
        return eval(&parse(exprs[0])?, vars);
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        out.push_str(&text(&eval(&parse(&after[..end])?, vars)?));
        rest = after.get(end + 2..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// A value as text: strings bare, everything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn eval(e: &Expr, vars: &Vars) -> Result<Value, String> {
    match e {
        Expr::Text(t) => Ok(Value::String(t.clone())),
        Expr::Name(path) => {
            let mut v =
                vars.get(&path[0]).ok_or_else(|| format!("{{{{{}}}}} is not defined yet", path[0]))?;
            for (i, seg) in path.iter().enumerate().skip(1) {
                let next = match v {
                    Value::Object(m) => m.get(seg),
                    Value::Array(a) => seg.parse::<usize>().ok().and_then(|n| a.get(n)),
                    _ => None,
                };
                v = next.ok_or_else(|| format!("{} has no {seg:?}", path[..i].join(".")))?;
            }
            Ok(v.clone())
        }
        Expr::Call(name, args) => {
            let args = args.iter().map(|a| eval(a, vars)).collect::<Result<Vec<_>, _>>()?;
            match name.as_str() {
                "uuid" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
                "now" => {
                    Ok(Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
                }
                "now_plus" => {
                    let secs: f64 = text(&args[0])
                        .trim()
                        .parse()
                        .map_err(|_| format!("now_plus: {:?} is not a number of seconds", text(&args[0])))?;
                    let later = chrono::Utc::now() + chrono::Duration::milliseconds((secs * 1000.0) as i64);
                    Ok(Value::String(later.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
                }
                "otp_time" => Ok(Value::String(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string())),
                "encrypt_oaep" => {
                    crate::crypto::encrypt(&text(&args[0]), &text(&args[1]), true).map(Value::String)
                }
                "encrypt_pkcs1" => {
                    crate::crypto::encrypt(&text(&args[0]), &text(&args[1]), false).map(Value::String)
                }
                "fidelius_keygen" => Ok(crate::crypto::fidelius_keygen()),
                "fidelius_encrypt" => {
                    let a: Vec<String> = args.iter().map(text).collect();
                    crate::crypto::fidelius_encrypt(&a[0], &a[1], &a[2], &a[3], &a[4]).map(Value::String)
                }
                "md5_hex" => Ok(Value::String(crate::crypto::md5_hex(&text(&args[0])))),
                "fidelius_decrypt" => {
                    let a: Vec<String> = args.iter().map(text).collect();
                    crate::crypto::fidelius_decrypt(&a[0], &a[1], &a[2], &a[3], &a[4]).map(Value::String)
                }
                "parse_json" => {
                    let t = text(&args[0]);
                    serde_json::from_str(&t).map_err(|e| format!("parse_json: not JSON ({e})"))
                }
                other => Err(format!("unknown function {other}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_typed_and_interpolated() {
        let mut vars = Vars::new();
        vars.insert("n".into(), json!(5));
        vars.insert("fixture".into(), json!({"people": [{"aadhaar": "234567890127"}]}));
        assert_eq!(render_str("{{n}}", &vars).unwrap(), json!(5));
        assert_eq!(render_str("a-{{ n }}-b", &vars).unwrap(), json!("a-5-b"));
        assert_eq!(render_str("{{fixture.people.0.aadhaar}}", &vars).unwrap(), json!("234567890127"));
        assert!(render_str("{{missing}}", &vars).unwrap_err().contains("not defined"));
        assert!(render_str("{{fixture.people.3}}", &vars).unwrap_err().contains("no \"3\""));
        assert_eq!(
            references(&json!({"a": ["{{encrypt_oaep(key, otp)}}", "{{uuid()}}"]})).unwrap(),
            vec!["key", "otp"]
        );
        assert!(references(&json!("{{nope(1)}}")).unwrap_err().contains("unknown function"));
    }

    #[test]
    fn a_hips_push_can_be_written_with_fidelius_and_md5() {
        let mut vars = Vars::new();
        vars.insert("hip".into(), render_str("{{fidelius_keygen()}}", &vars).unwrap());
        vars.insert("hiu".into(), render_str("{{fidelius_keygen()}}", &vars).unwrap());
        vars.insert("bundle".into(), json!({"resourceType": "Bundle", "type": "document"}));
        let sealed = render_str(
            "{{fidelius_encrypt(bundle, hip.nonce, hiu.nonce, hip.privateKey, hiu.x509PublicKey)}}",
            &vars,
        )
        .unwrap();
        let (hip, hiu) = (&vars["hip"], &vars["hiu"]);
        let text = |v: &Value| v.as_str().unwrap().to_string();
        let opened = abdm_server::fidelius::decrypt(
            &text(&sealed),
            &text(&hiu["nonce"]),
            &text(&hip["nonce"]),
            &text(&hiu["privateKey"]),
            &text(&hip["publicKey"]),
        )
        .unwrap();
        assert_eq!(opened, r#"{"resourceType":"Bundle","type":"document"}"#);
        assert_eq!(
            render_str("{{md5_hex('abc')}}", &vars).unwrap(),
            json!("900150983cd24fb0d6963f7d28e17f72")
        );
        let wrong =
            render_str("{{fidelius_encrypt('x', hip.nonce, 'short', hip.privateKey, hiu.publicKey)}}", &vars);
        assert!(wrong.unwrap_err().contains("requesterNonce"));
        assert!(references(&json!("{{md5_hex(a, b)}}")).unwrap_err().contains("takes 1 arguments"));
    }

    #[test]
    fn a_hiu_opens_a_push_with_fidelius_decrypt_and_parse_json() {
        let mut vars = Vars::new();
        vars.insert("hip".into(), render_str("{{fidelius_keygen()}}", &vars).unwrap());
        vars.insert("hiu".into(), render_str("{{fidelius_keygen()}}", &vars).unwrap());
        vars.insert(
            "bundle".into(),
            json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition"}}]}),
        );
        let sealed = render_str(
            "{{fidelius_encrypt(bundle, hip.nonce, hiu.nonce, hip.privateKey, hiu.publicKey)}}",
            &vars,
        )
        .unwrap();
        vars.insert("content".into(), sealed);
        let opened = render(
            &json!({
                "bundle": "{{parse_json(fidelius_decrypt(content, hiu.nonce, hip.nonce, hiu.privateKey, hip.x509PublicKey))}}",
                "md5": "{{md5_hex(fidelius_decrypt(content, hiu.nonce, hip.nonce, hiu.privateKey, hip.publicKey))}}",
            }),
            &vars,
        )
        .unwrap();
        assert_eq!(opened["bundle"], vars["bundle"]);
        assert_eq!(opened["md5"], json!(crate::crypto::md5_hex(&vars["bundle"].to_string())));
        // The wrong private key: the step says why it could not decrypt.
        let wrong = render_str(
            "{{fidelius_decrypt(content, hiu.nonce, hip.nonce, hip.privateKey, hip.publicKey)}}",
            &vars,
        );
        assert!(wrong.unwrap_err().starts_with("fidelius_decrypt: "));
        assert!(render_str("{{parse_json('{nope')}}", &vars).unwrap_err().contains("not JSON"));
        let later = render_str("{{now_plus('3600')}}", &vars).unwrap();
        let later = chrono::DateTime::parse_from_rfc3339(later.as_str().unwrap()).unwrap();
        assert!(later > chrono::Utc::now() + chrono::Duration::minutes(59));
        assert!(render_str("{{now_plus('soon')}}", &vars).unwrap_err().contains("not a number"));
    }
}
