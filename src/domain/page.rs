//! Pagination of the listings (admin users, security events), as Django
//! REST Framework's `PageNumberPagination` does it: `?page=` from 1, or
//! `last`, `PAGE_SIZE` items a page.

/// Items per page of a listing.
pub const PAGE_SIZE: i64 = 50;

/// A page that does not exist, or a `?page=` that names none (DRF's
/// "Invalid page.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidPage;

/// One page of a listing, and where it stands among the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// How many items the whole listing has.
    pub count: i64,
    /// From 1.
    pub number: i64,
    pub has_previous: bool,
    pub has_next: bool,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            count: self.count,
            number: self.number,
            has_previous: self.has_previous,
            has_next: self.has_next,
            items: self.items.into_iter().map(f).collect(),
        }
    }
}

/// Which page of a listing was asked for: a number from 1, or the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRequest {
    Number(i64),
    Last,
}

impl PageRequest {
    /// Reads `?page=` as Django REST Framework does: absent means 1, `last`
    /// the last page, anything but a positive number is an invalid page.
    pub fn parse(text: Option<&str>) -> Result<Self, InvalidPage> {
        match text {
            None => Ok(PageRequest::Number(1)),
            Some("last") => Ok(PageRequest::Last),
            Some(number) => match number.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(PageRequest::Number(n)),
                _ => Err(InvalidPage),
            },
        }
    }

    /// The page among `count` items, with its items as `read(offset, limit)`
    /// gives them.
    pub fn read<T, E: From<InvalidPage>>(
        self,
        count: i64,
        read: impl FnOnce(i64, i64) -> Result<Vec<T>, E>,
    ) -> Result<Page<T>, E> {
        let (number, pages) = self.locate(count)?;
        let items = read((number - 1) * PAGE_SIZE, PAGE_SIZE)?;
        Ok(Page {
            count,
            number,
            has_previous: number > 1,
            has_next: number < pages,
            items,
        })
    }

    /// The page's number among `count` items, and how many pages there are
    /// (`PAGE_SIZE` each); a page past the last is invalid, and page 1
    /// always exists.
    pub fn locate(self, count: i64) -> Result<(i64, i64), InvalidPage> {
        let pages = ((count + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        match self {
            PageRequest::Last => Ok((pages, pages)),
            PageRequest::Number(n) if n <= pages => Ok((n, pages)),
            PageRequest::Number(_) => Err(InvalidPage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_read_like_django_rest_framework() {
        assert_eq!(PageRequest::parse(None), Ok(PageRequest::Number(1)));
        assert_eq!(PageRequest::parse(Some("3")), Ok(PageRequest::Number(3)));
        assert_eq!(PageRequest::parse(Some("last")), Ok(PageRequest::Last));
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert_eq!(PageRequest::parse(Some(bad)), Err(InvalidPage), "{bad}");
        }
    }

    #[test]
    fn page_one_always_exists_and_a_page_past_the_last_does_not() {
        assert_eq!(PageRequest::Number(1).locate(0), Ok((1, 1)));
        assert_eq!(PageRequest::Last.locate(PAGE_SIZE + 1), Ok((2, 2)));
        assert_eq!(PageRequest::Number(2).locate(PAGE_SIZE), Err(InvalidPage));
    }
}
