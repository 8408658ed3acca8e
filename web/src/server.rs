//! Assembles the actix-web application: app data, extractor error handlers, routes, and the
//! answer for everything else (a 405 with `Allow` on a known path, else a problem-details 404).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};

use shotfarm_actors::Farm;

use crate::artifact_url::ArtifactSigner;
use crate::auth::TokenIssuer;
use crate::problem::{self, BodyLimit};
use crate::routes;
use crate::settings::WebSettings;

/// Registers every route and the app data they need (used by the server and by tests).
pub fn configure(
    farm: Farm,
    settings: web::Data<WebSettings>,
    tokens: TokenIssuer,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = settings.server.max_body_bytes;
        let auth = &settings.auth;
        let signer = ArtifactSigner::new(&auth.secret, auth.artifact_url_ttl);
        crate::artifact_url::install(signer.clone());
        cfg.app_data(web::Data::new(farm))
            .app_data(settings.clone())
            .app_data(web::Data::new(signer))
            .app_data(web::Data::new(tokens))
            .app_data(BodyLimit(limit))
            .app_data(web::PayloadConfig::new(limit))
            .app_data(problem::json_config(limit))
            .app_data(problem::path_config())
            .app_data(problem::query_config())
            .configure(routes::service::configure)
            .configure(routes::videos::configure)
            .configure(routes::video_control::configure)
            .configure(routes::credits::configure)
            .configure(routes::nodes::configure)
            .configure(routes::holds::configure)
            .configure(routes::cluster::configure)
            .configure(routes::autoscaler::configure)
            .configure(routes::artifacts::configure)
            .configure(routes::audit::configure)
            .configure(routes::progress::configure)
            .configure(routes::operator::configure)
            .configure(routes::queue::configure)
            .configure(crate::agents::configure)
            .configure(crate::openapi::configure)
            .configure(crate::pages::configure);
    }
}

/// Samples every node into `history` each [`crate::session::History::interval`], on the
/// server's runtime (it ends with it); a failed read skips one sample.
fn record_history(farm: Farm, history: std::sync::Arc<crate::session::History>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(history.interval());
        loop {
            tick.tick().await;
            if let Ok(nodes) = farm.nodes().await {
                history.record(&nodes);
            }
        }
    });
}

/// Starts the HTTP server on an already bound listener (bind to port 0 in tests).
pub fn serve(farm: Farm, settings: WebSettings, listener: TcpListener) -> std::io::Result<Server> {
    let settings = web::Data::new(settings);
    let tokens = TokenIssuer::new(&settings.auth.secret);
    // One for every worker: a node's connections must see each other whichever worker took them.
    let agents = web::Data::new(crate::agents::AgentDirectory::default());
    // One for every worker too: a user's sessions count on the whole server.
    let sessions = web::Data::new(crate::session::SessionLimiter::new(
        settings
            .websocket
            .max_sessions_per_user
            .unwrap_or(crate::session::limit::DEFAULT_MAX_SESSIONS_PER_USER),
        settings
            .websocket
            .max_sessions
            .unwrap_or(crate::session::limit::DEFAULT_MAX_SESSIONS),
    ));
    // One for every worker: scrapes share one snapshot, whichever worker answers them.
    let scrape = web::Data::new(crate::metrics::Scrape::new(&settings.metrics));
    // One history for every worker, recorded whether anyone watches: the operator stream's
    // first frame gives the dashboard's charts the last 15 minutes at once.
    let history = web::Data::new(crate::session::History::new(
        farm.settings().timing.telemetry_period,
    ));
    record_history(farm.clone(), history.clone().into_inner());
    let workers = settings.server.workers();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(crate::security_headers::add))
            .wrap(crate::cors::middleware(&settings.server.allowed_origins))
            // The path without its query: `?token=` and `?sig=` are secrets, never logged.
            .wrap(
                middleware::Logger::new("%{method}xi %U %s %Dms")
                    .custom_request_replace("method", |req| req.method().to_string())
                    .log_target("shotfarm::http"),
            )
            .app_data(agents.clone())
            .app_data(sessions.clone())
            .app_data(scrape.clone())
            .app_data(history.clone())
            .configure(configure(farm.clone(), settings.clone(), tokens.clone()))
            .default_service(web::to(routes::fallback::unmatched))
    })
    // Progress frames are small and must leave at once: Nagle's algorithm would hold each one
    // until the previous is acknowledged (tens of ms with delayed ACKs).
    .tcp_nodelay(true)
    .workers(workers)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok(server)
}
