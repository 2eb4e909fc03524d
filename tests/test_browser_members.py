from tests.browser import page_width


def test_home_page_opens_in_a_real_browser(instances, page):
    a = instances.new("a")
    page.goto(a.url("/"))
    assert "Interpeople" in page.title()
    assert page_width(page) > 0
