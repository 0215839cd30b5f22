"""The home page: one section per role the signed-in account holds."""

from flask import Blueprint
from flask_login import current_user

from xuetang.services.overview import home_page
from xuetang.web import render
from xuetang.web.access import signed_in

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def index():
    """Each role's home, in one page: trainee, employer, district, city, uploader, filers."""
    return render("home/index.html", **home_page(current_user))
