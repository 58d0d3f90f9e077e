use serde::Serialize;
use utoipa::ToSchema;

/// Which page of a list to read: 1-based, at most `MAX_LIMIT` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 20;

    pub fn parse(page: Option<u32>, limit: Option<u32>) -> Result<Self, (&'static str, String)> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if page == 0 {
            return Err(("page", "must be 1 or more".to_owned()));
        }
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err((
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        Ok(Self { page, limit })
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    /// How many items match the filters, over all pages.
    pub total: i64,
}
