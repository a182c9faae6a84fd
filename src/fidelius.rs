//! `abdm-sandbox fidelius`: ABDM's Fidelius encryption on the command line, with fidelius-cli's
//! commands, argument order and JSON output, so an integrator can check a HIP's or HIU's
//! encryption without Java. Bad input is refused on stderr, naming the argument and the rule,
//! with exit code 1.

use std::process::ExitCode;

use abdm_server::fidelius::{self, FideliusError, Input, KeyMaterial, Problem};
use base64::Engine as _;
use clap::Subcommand;
use serde_json::json;

/// The Fidelius operations, named and ordered as fidelius-cli's.
#[derive(Subcommand)]
pub enum FideliusCommand {
    /// Print a fresh key pair and nonce: {"privateKey", "publicKey", "x509PublicKey", "nonce"}.
    #[command(visible_aliases = ["gkm", "generate-key-material"])]
    Keygen,
    /// Encrypt as a HIP (sender) for a HIU (requester): prints {"encryptedData"}.
    #[command(visible_alias = "e")]
    Encrypt {
        /// The text to encrypt (UTF-8).
        #[arg(allow_hyphen_values = true)]
        string_to_encrypt: String,
        /// The sender's (HIP's) nonce, 32 bytes of base64.
        sender_nonce: String,
        /// The requester's (HIU's) nonce, 32 bytes of base64.
        requester_nonce: String,
        /// The sender's private key (base64).
        sender_private_key: String,
        /// The requester's public key: raw 65-byte point (88 characters) or X.509 (412).
        requester_public_key: String,
    },
    /// As encrypt, with the text given in base64 (safe for any shell): prints {"encryptedData"}.
    #[command(visible_alias = "se")]
    SaneEncrypt {
        /// The text to encrypt, base64-encoded.
        base64_string_to_encrypt: String,
        /// The sender's (HIP's) nonce, 32 bytes of base64.
        sender_nonce: String,
        /// The requester's (HIU's) nonce, 32 bytes of base64.
        requester_nonce: String,
        /// The sender's private key (base64).
        sender_private_key: String,
        /// The requester's public key: raw 65-byte point (88 characters) or X.509 (412).
        requester_public_key: String,
    },
    /// Decrypt as a HIU (requester) from a HIP (sender): prints {"decryptedData"}.
    #[command(visible_alias = "d")]
    Decrypt {
        /// The base64 ciphertext with its 16-byte tag.
        encrypted_data: String,
        /// The requester's (HIU's) nonce, 32 bytes of base64.
        requester_nonce: String,
        /// The sender's (HIP's) nonce, 32 bytes of base64.
        sender_nonce: String,
        /// The requester's private key (base64).
        requester_private_key: String,
        /// The sender's public key: raw 65-byte point (88 characters) or X.509 (412).
        sender_public_key: String,
    },
}

/// Runs one command, printing pretty JSON (as fidelius-cli's Gson does) or the refusal.
pub fn run(command: FideliusCommand) -> ExitCode {
    let result = match command {
        // Serialised from the struct, so the fields keep fidelius-cli's order.
        FideliusCommand::Keygen => {
            serde_json::to_string_pretty(&KeyMaterial::generate()).map_err(|e| e.to_string())
        }
        FideliusCommand::Encrypt {
            string_to_encrypt,
            sender_nonce,
            requester_nonce,
            sender_private_key,
            requester_public_key,
        } => encrypt(
            string_to_encrypt.into_bytes(),
            &sender_nonce,
            &requester_nonce,
            &sender_private_key,
            &requester_public_key,
        ),
        FideliusCommand::SaneEncrypt {
            base64_string_to_encrypt,
            sender_nonce,
            requester_nonce,
            sender_private_key,
            requester_public_key,
        } => match base64::engine::general_purpose::STANDARD.decode(base64_string_to_encrypt.trim()) {
            Ok(text) => {
                encrypt(text, &sender_nonce, &requester_nonce, &sender_private_key, &requester_public_key)
            }
            Err(_) => Err(FideliusError { input: Input::Plaintext, problem: Problem::NotBase64 }.to_string()),
        },
        FideliusCommand::Decrypt {
            encrypted_data,
            requester_nonce,
            sender_nonce,
            requester_private_key,
            sender_public_key,
        } => fidelius::decrypt(
            &encrypted_data,
            &requester_nonce,
            &sender_nonce,
            &requester_private_key,
            &sender_public_key,
        )
        .map_err(|e| e.to_string())
        .and_then(|text| pretty(&json!({ "decryptedData": text }))),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("abdm-sandbox fidelius: {message}");
            ExitCode::from(1)
        }
    }
}

fn encrypt(
    text: Vec<u8>,
    sender_nonce: &str,
    requester_nonce: &str,
    sender_private_key: &str,
    requester_public_key: &str,
) -> Result<String, String> {
    fidelius::encrypt(text, sender_nonce, requester_nonce, sender_private_key, requester_public_key)
        .map_err(|e| e.to_string())
        .and_then(|data| pretty(&json!({ "encryptedData": data })))
}

/// Two-space indented JSON, the layout of Gson's pretty printer.
fn pretty(value: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}
