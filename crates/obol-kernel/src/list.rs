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
    fetch_after(
        conn,
        page,
        async |conn, after| Ok(cursor_exists(conn, after).await?.then_some(())),
        async |conn, _| fetch(conn, page).await,
    )
    .await
}

/// One page of a list that continues after a key of the cursor's object
/// other than its id (such as an event's sequence): `find_cursor` reads the
/// key of the `starting_after` object, `None` when it names no object of the
/// list (400 `starting_after`); `fetch` reads the rows after that key (after
/// none: the first page).
pub async fn fetch_after<K, R>(
    conn: &mut Conn,
    page: &PageRequest,
    find_cursor: impl AsyncFnOnce(&mut Conn, &str) -> obol_store::Result<Option<K>>,
    fetch: impl AsyncFnOnce(&mut Conn, Option<K>) -> obol_store::Result<Page<R>>,
) -> ApiResult<Page<R>> {
    let after = match page.starting_after.as_deref() {
        None => None,
        Some(after) => Some(
            find_cursor(conn, after)
                .await?
                .ok_or_else(|| unknown_cursor(after))?,
        ),
    };
    Ok(fetch(conn, after).await?)
}

/// 404 naming `param` when a list's filter `id` (if given) names no object
/// `what` of the list's brand: `exists` looks it up.
pub async fn check_filter(
    conn: &mut Conn,
    what: &str,
    id: Option<&str>,
    param: &str,
    exists: impl AsyncFnOnce(&mut Conn, &str) -> obol_store::Result<bool>,
) -> ApiResult<()> {
    match id {
        Some(id) if !exists(conn, id).await? => Err(filter_names_nothing(what, id, param)),
        _ => Ok(()),
    }
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

    /// The list of a page, each row shown by `view`, which cannot fail.
    pub fn mapped<R>(page: Page<R>, view: impl FnMut(R) -> T) -> Self {
        List::new(page.data.into_iter().map(view).collect(), page.has_more)
    }
}
