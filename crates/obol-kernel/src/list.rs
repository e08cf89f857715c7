//! Lists: how every list route reads its page and filters, checks its
//! cursor, and the page shape it answers with.

use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, unknown_cursor};
use obol_store::Conn;
use obol_store::page::{Page, PageRequest};
use serde::Serialize;
use utoipa::ToSchema;

/// A page of a list: `{"object": "list", "data": [...], "has_more": bool}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T: ToSchema> List<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        List {
            object: "list",
            data,
            has_more,
        }
    }
}

/// A list route's request: its page and its filters, read from the query
/// string and checked.
#[derive(Debug)]
pub struct ListRequest<F> {
    pub page: PageRequest,
    pub filter: F,
}

impl QueryParams {
    /// Reads a list request: `limit` and `starting_after`, then the filters
    /// `filter` takes; any other parameter is 400 `parameter_unknown`.
    pub fn list<F>(
        mut self,
        filter: impl FnOnce(&mut QueryParams) -> ApiResult<F>,
    ) -> ApiResult<ListRequest<F>> {
        let page = self.page()?;
        let filter = filter(&mut self)?;
        self.finish()?;
        Ok(ListRequest { page, filter })
    }
}

/// One page of a list on `conn`: 400 `starting_after` when the cursor names
/// no object of the list (`cursor_exists`), else the rows `fetch` reads.
pub async fn fetch<R>(
    conn: &mut Conn,
    page: &PageRequest,
    cursor_exists: impl AsyncFnOnce(&mut Conn, &str) -> obol_store::Result<bool>,
    fetch: impl AsyncFnOnce(&mut Conn, &PageRequest) -> obol_store::Result<Page<R>>,
) -> ApiResult<Page<R>> {
    if let Some(after) = page.starting_after.as_deref()
        && !cursor_exists(conn, after).await?
    {
        return Err(unknown_cursor(after));
    }
    Ok(fetch(conn, page).await?)
}

/// 404 naming `param` when a list's filter names no object (`what`, `id`).
pub fn filter_names_nothing(what: &str, id: &str, param: &str) -> ApiError {
    ApiError::not_found(what, id).with_param(param)
}

impl<T: ToSchema> List<T> {
    /// The list of a page, each row shown by `view`.
    pub fn of<R, E>(page: Page<R>, view: impl FnMut(R) -> Result<T, E>) -> Result<Self, E> {
        let data = page.data.into_iter().map(view).collect::<Result<_, E>>()?;
        Ok(List::new(data, page.has_more))
    }
}
