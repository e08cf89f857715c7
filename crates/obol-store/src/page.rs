//! Cursor pagination: newest first, `starting_after` an id of the list.

/// A page request: how many rows and which id to continue after.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub starting_after: Option<String>,
}

/// One page of a list, fetched one row past `limit` to know `has_more`.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with `LIMIT limit + 1`.
    pub fn from_rows(mut rows: Vec<T>, limit: i64) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Page {
            data: rows,
            has_more,
        }
    }
}

/// A page of the rows `select` reads (`SELECT … FROM t WHERE owner = $1`,
/// `$1` bound to `owner`), newest first: ids sort by creation time.
pub(crate) async fn newest_first<T: crate::sql::FromRow>(
    conn: &mut crate::Conn,
    select: &str,
    owner: impl crate::sql::Encode,
    page: &PageRequest,
) -> crate::Result<Page<T>> {
    let sql = format!("{select} AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3");
    let rows = crate::sql::query_as(sql)
        .bind(owner)
        .bind(&page.starting_after)
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}
