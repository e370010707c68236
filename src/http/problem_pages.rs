//! `GET /problems/{slug}`: the human-readable page behind each problem
//! `type` URI, and `GET /problems`, the catalogue.

use axum::response::Html;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    extract::ApiPath,
    problem::{Problem, ProblemInfo, ProblemType},
};
use crate::problems;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_problem_types)).routes(routes!(get_problem_type))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         code{{background:#f2f2f2;padding:0 .2em}}td,th{{text-align:left;padding:.2em .8em .2em 0;vertical-align:top}}</style>\
         </head><body>{body}</body></html>",
        escape(title)
    ))
}

fn describe(info: &ProblemInfo) -> String {
    let mut html = format!(
        "<h1>{}</h1><p>HTTP status <strong>{}</strong> &middot; type <code>/problems/{}</code> &middot; code <code>{}</code></p><p>{}</p>",
        escape(info.title),
        info.status,
        info.slug,
        info.slug,
        escape(info.when)
    );
    if !info.members.is_empty() {
        html.push_str("<h2>Extension members</h2><table>");
        for member in info.members {
            let presence = if member.always { "always" } else { "sometimes" };
            html.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{presence}</td><td>{}</td></tr>",
                member.name,
                escape(member.meaning)
            ));
        }
        html.push_str("</table>");
    }
    if let Some((name, meaning)) = info.header {
        html.push_str(&format!("<h2>Header</h2><p><code>{name}</code>: {}</p>", escape(meaning)));
    }
    html.push_str("<p><a href=\"/problems\">All problem types</a></p>");
    html
}

problems!(ListProblemTypesErrors:);
problems!(GetProblemTypeErrors: NotFound);

/// Problem catalogue
///
/// An HTML page listing every problem type berth answers with.
#[utoipa::path(get, path = "/problems", tag = "problems", security(()),
    responses((status = 200, description = "The catalogue", content_type = "text/html", body = String), ListProblemTypesErrors))]
pub async fn list_problem_types() -> Html<String> {
    let mut body =
        String::from("<h1>berth problem types</h1><table><tr><th>status</th><th>type</th><th>title</th></tr>");
    for kind in ProblemType::ALL {
        let info = kind.info();
        body.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/problems/{slug}\"><code>{slug}</code></a></td><td>{}</td></tr>",
            info.status,
            escape(info.title),
            slug = info.slug
        ));
    }
    body.push_str("</table>");
    page("berth problem types", &body)
}

/// Problem type
///
/// An HTML page explaining one problem type: when it happens, what to do,
/// and its extension members.
#[utoipa::path(get, path = "/problems/{slug}", tag = "problems", security(()),
    params(("slug" = String, Path, max_length = 64, pattern = "^[a-z-]+$", description = "Problem type slug, e.g. `capacity-exceeded`")),
    responses((status = 200, description = "The explanation", content_type = "text/html", body = String), GetProblemTypeErrors))]
pub async fn get_problem_type(ApiPath(slug): ApiPath<String>) -> Result<Html<String>, Problem> {
    let kind = ProblemType::from_slug(&slug)
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "No problem type with this slug."))?;
    Ok(page(kind.info().title, &describe(kind.info())))
}
