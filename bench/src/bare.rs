//! The ceiling for this stack: actix-web with the sandbox's build settings, one route answering
//! a JSON document from memory, nothing else (no middleware, no journal).

use std::path::Path;

use actix_web::{web, App, HttpResponse, HttpServer};

pub fn serve(file: &Path, addr: &str, workers: usize) -> Result<(), String> {
    let body = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let body = web::Bytes::from(body);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut server = HttpServer::new(move || {
            let body = body.clone();
            App::new().route(
                "/gateway/v0.5/certs",
                web::get().to(move || {
                    let body = body.clone();
                    async move { HttpResponse::Ok().content_type("application/json").body(body) }
                }),
            )
        })
        .bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        if workers > 0 {
            server = server.workers(workers);
        }
        println!("bare-certs listening on http://{}", server.addrs()[0]);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        server.run().await.map_err(|e| e.to_string())
    })
}
